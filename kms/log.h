/* log.h - the KMS side of the verifiable decision log (docs/design.md, "The decision log"):
 * this node's log key, its certification by the root secp256k1 key, the checkpoint signer and
 * the public read API (GET /checkpoint, /log-key, /tile/...). */
#ifndef KG_KMS_LOG_H
#define KG_KMS_LOG_H

#include <stdbool.h>

#include "keygate/result.h"

struct kms;
struct evhttp_request;

/* Loads (or, first time, generates) state_dir/log-ed25519.key, certifies it with the root
 * k256 key, writes state_dir/log-key.json, names the node in the audit log and starts the
 * signer (a checkpoint at most every 100 ms while the log grows). After kg_audit_open. */
KG_RESULT kms_log_start(struct kms *k);
/* Stops the signer (signing one last checkpoint) and closes the read connection. */
void kms_log_stop(void);
/* Answers GET /checkpoint, /log-key and /tile/... (no client authentication); false when
 * path is none of these. Runs on the event loop. */
bool kms_log_route(struct evhttp_request *req, const char *path);

#endif
