/* server.c - serves the agent API over HTTP/1.1 on a unix-domain socket (libevent evhttp bound
 * to an evconnlistener), with the socket file's permissions set before anyone can connect. */
#include "keygate/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <event2/thread.h>

#define MAX_HEADERS 8192
#define CONN_TIMEOUT_S 30

struct kg_agent_server {
    kg_agent *agent; /* borrowed */
    struct event_base *base;
    struct evhttp *http;
    struct evconnlistener *listener;
    struct event *stop_ev; /* activated by kg_agent_server_stop; breaks the loop when it runs */
    char *path;            /* owned; the socket file we created and remove */
};

/* A stop is an event, not a bare loopbreak: a loopbreak sent before the loop starts is
 * forgotten (the app may exit before the server thread is scheduled), an active event is not. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void reply(struct evhttp_request *req, int status, const uint8_t *body, size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    /* The SDK's unix-socket client resolves only when the server closes the connection. */
    evhttp_add_header(h, "Connection", "close");
    if (buf == NULL) {
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add(buf, body, len);
    evhttp_send_reply(req, status, status == 200 ? "OK" : "Error", buf);
    evbuffer_free(buf);
}

static void reply_error(struct evhttp_request *req, int status, const char *json)
{
    reply(req, status, (const uint8_t *)json, strlen(json));
}

static void on_request(struct evhttp_request *req, void *arg)
{
    kg_agent_server *srv = arg;
    if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
        reply_error(req, 405, "{\"error\":\"only POST is supported\"}");
        return;
    }
    const char *uri = evhttp_request_get_uri(req);
    if (uri == NULL || uri[0] != '/') {
        reply_error(req, 400, "{\"error\":\"bad request path\"}");
        return;
    }
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if (len > KG_AGENT_MAX_BODY) { /* evhttp enforces the same cap; kept for clarity */
        reply_error(req, 413, "{\"error\":\"request body too large\"}");
        return;
    }
    const uint8_t *body = len ? evbuffer_pullup(in, (ev_ssize_t)len) : NULL;
    kg_buf out;
    int status = 500;
    kg_buf_init(&out, KG_AGENT_MAX_RESPONSE + 1024);
    if (kg_failed(kg_agent_handle(srv->agent, uri + 1, body, len, &status, &out)))
        reply_error(req, 500, "{\"error\":\"out of memory\"}");
    else
        reply(req, status, out.data, out.len);
    kg_buf_free(&out); /* wipes: responses may carry keys */
}

/* Prepares `path` for bind: refuses a non-socket and a socket in use; removes a stale one. */
static kg_result clear_path(const char *path)
{
    struct stat st;
    if (lstat(path, &st) != 0) {
        KG_ENSURE(errno == ENOENT, KG_ERR_IO, "socket path '%s': %s", path, strerror(errno));
        return KG_OK;
    }
    KG_ENSURE(S_ISSOCK(st.st_mode), KG_ERR_IO,
              "socket path '%s' exists and is not a socket; refusing to replace it", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    KG_ENSURE(fd >= 0, KG_ERR_IO, "socket: %s", strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    int live = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    KG_ENSURE(!live, KG_ERR_IO, "socket '%s' is in use by another server", path);
    KG_ENSURE(unlink(path) == 0, KG_ERR_IO, "removing stale socket '%s': %s", path,
              strerror(errno));
    return KG_OK;
}

/* Creates the listening socket with `mode` already applied when it appears in the file system:
 * bind under a umask that leaves nothing more than mode, then chmod to exactly mode. */
static kg_result bind_socket(int *out_fd, const char *path, mode_t mode)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    KG_ENSURE(fd >= 0, KG_ERR_IO, "socket: %s", strerror(errno));
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    memcpy(sa.sun_path, path, strlen(path) + 1);
    mode_t old = umask((mode_t)(~mode & 0777));
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    int err = errno;
    umask(old);
    if (rc != 0) {
        close(fd);
        KG_BAIL(KG_ERR_IO, "binding '%s': %s", path, strerror(err));
    }
    if (chmod(path, mode) != 0 || listen(fd, 64) != 0) {
        err = errno;
        unlink(path);
        close(fd);
        KG_BAIL(KG_ERR_IO, "socket '%s': %s", path, strerror(err));
    }
    *out_fd = fd;
    return KG_OK;
}

kg_result kg_agent_server_new(kg_agent_server **out, kg_agent *agent, const char *path, mode_t mode)
{
    kg_result rc = KG_ERROR;
    int fd = -1;
    *out = NULL;
    if (mode == 0)
        mode = KG_AGENT_SOCKET_MODE;
    KG_ENSURE(path != NULL && path[0] != '\0', KG_ERR_USAGE, "no socket path");
    KG_ENSURE(strlen(path) < sizeof(((struct sockaddr_un *)0)->sun_path), KG_ERR_USAGE,
              "socket path '%s' is longer than %zu bytes", path,
              sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    /* Never wider than 0660: the socket hands out keys. */
    KG_ENSURE((mode & ~(mode_t)0660) == 0, KG_ERR_USAGE, "socket mode %04o is wider than 0660",
              (unsigned)mode);
    kg_agent_server *s = calloc(1, sizeof(*s));
    KG_ENSURE(s != NULL, KG_ERR_NOMEM, "out of memory");
    s->agent = agent;
    KG_GUARD_C(clear_path(path));
    KG_GUARD_C(bind_socket(&fd, path, mode));
    s->path = strdup(path);
    KG_ENSURE_C(s->path != NULL, KG_ERR_NOMEM, "out of memory");
    evthread_use_pthreads(); /* kg_agent_server_stop may come from another thread */
    s->base = event_base_new();
    KG_ENSURE_C(s->base != NULL, KG_ERR_NOMEM, "event_base_new failed");
    s->stop_ev = event_new(s->base, -1, 0, on_stop, s->base);
    KG_ENSURE_C(s->stop_ev != NULL, KG_ERR_NOMEM, "event_new failed");
    s->http = evhttp_new(s->base);
    KG_ENSURE_C(s->http != NULL, KG_ERR_NOMEM, "evhttp_new failed");
    evhttp_set_max_body_size(s->http, KG_AGENT_MAX_BODY);
    evhttp_set_max_headers_size(s->http, MAX_HEADERS);
    evhttp_set_timeout(s->http, CONN_TIMEOUT_S);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_POST | EVHTTP_REQ_GET | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD);
    evhttp_set_gencb(s->http, on_request, s);
    s->listener = evconnlistener_new(s->base, NULL, NULL,
                                     LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
    KG_ENSURE_C(s->listener != NULL, KG_ERR_IO, "evconnlistener_new failed");
    fd = -1; /* owned by the listener now */
    KG_ENSURE_C(evhttp_bind_listener(s->http, s->listener) != NULL, KG_ERR_IO,
                "evhttp_bind_listener failed");
    s->listener = NULL; /* owned by evhttp now */
    *out = s;
    s = NULL;
    rc = KG_OK;
cleanup:
    if (fd >= 0) {
        close(fd);
        unlink(path);
    }
    kg_agent_server_free(s);
    return rc;
}

kg_result kg_agent_server_run(kg_agent_server *srv)
{
    KG_ENSURE(event_base_dispatch(srv->base) >= 0, KG_ERR_IO, "event loop failed");
    return KG_OK;
}

void kg_agent_server_stop(kg_agent_server *srv)
{
    if (srv != NULL && srv->stop_ev != NULL)
        event_active(srv->stop_ev, 0, 0);
}

void kg_agent_server_free(kg_agent_server *srv)
{
    if (srv == NULL)
        return;
    if (srv->http)
        evhttp_free(srv->http);
    if (srv->stop_ev)
        event_free(srv->stop_ev);
    if (srv->listener)
        evconnlistener_free(srv->listener);
    if (srv->base)
        event_base_free(srv->base);
    if (srv->path) {
        unlink(srv->path);
        free(srv->path);
    }
    free(srv);
}
