/* log.h - the KMS side of the verifiable decision log (docs/design.md, "The decision log"):
 * this node's log key, its certification by the root secp256k1 key, the checkpoint signer and
 * the public read API (GET /checkpoint, /log-key, /tile/...). */
#ifndef KG_KMS_LOG_H
#define KG_KMS_LOG_H

#include <stdbool.h>

#include "keygate/result.h"

struct kms;
struct kms_call;
struct evhttp_request;

/* Loads (or, first time, generates) state_dir/log-ed25519.key, certifies it with the root
 * k256 key, writes state_dir/log-key.json, names the node in the audit log and starts the
 * signer (a checkpoint at most every 100 ms while the log grows). After kg_audit_open. */
KG_RESULT kms_log_start(struct kms *k);
/* Stops the signer (signing one last checkpoint) and closes the read connections. */
void kms_log_stop(void);
/* Queues an allowed release's answer (call->wants_receipt, call->receipt_leaf) for its receipt:
 * once a checkpoint including the leaf is signed, the receipt is added to call->response as
 * "receipt" (docs/design.md, "Receipts") and done(arg) runs on the signer thread. If no receipt
 * can be made the answer becomes a 503 error (the keys in it are wiped). The call must stay
 * valid until done. From any thread. */
void kms_log_receipt_wait(struct kms_call *call, void (*done)(void *arg), void *arg);
/* Answers every call still waiting, on the calling thread (server shutdown, after the workers
 * stopped: their done callbacks run before this returns). */
void kms_log_receipts_drain(void);
/* Answers GET /checkpoint, /log-key and /tile/... (no client authentication); false when
 * path is none of these. Runs on the event loop. */
bool kms_log_route(struct evhttp_request *req, const char *path);

#endif
