/* server.h - the HTTPS server loop of keygate-kms. */
#ifndef KG_KMS_SERVER_H
#define KG_KMS_SERVER_H

#include <netinet/in.h>
#include <sys/socket.h>

#include "kms.h"

/* Serves until SIGINT/SIGTERM. Writes the listening port to port_file (may be NULL) once the
 * socket is bound, so scripts and tests can start the KMS on port 0. Borrows k. */
KG_RESULT kms_server_run(kms *k, const char *port_file);

#endif
