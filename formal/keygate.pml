/*
 * keygate.pml - a formal model of keygate's key-release protocol, checked with SPIN.
 *
 * docs/formal.md says what is modelled, how it maps to the code, what is abstracted and what is
 * left out, and gives the figures. formal/check.sh runs every property on this model and, for
 * each seeded flaw (a MUTANT_* define), the property that must catch it.
 *
 * Parties (one process each):
 *   Chain     the chain as a sequence of blocks; each new block carries at most one governance
 *             event (allow / revoke a compose hash of app V, revoke a KMS build).
 *   KMS       kms/rpc.c + lib/kms/decision.c + kms/chain.c + kms/policy.c: attest, this KMS's
 *             standing, governance at one block through a quorum of chain nodes, derive,
 *             record, release.
 *   AppVM     lib/agent/boot.c: measure the identity into RTMR3, authenticate the KMS, ask for
 *             the keys, measure the key provider, system-ready, run.
 *   Replica   an honest KMS replica onboarding (GetKmsKey), build KB2.
 *   Attacker  the network, the host, the disk and one chain node: injects requests with the
 *             certificates it can make, answers the VM's handshake in the KMS's place, makes
 *             the PCCS or the record store fail, and is the lying/stale chain node (its
 *             choices are made inside the KMS's steps, marked "ATTACKER:").
 *
 * Abstractions (docs/formal.md, "Abstracted"): cryptography is perfect (a signature, a hash
 * or a TLS key cannot be forged, so a certificate is described by what its maker could make);
 * DCAP is an oracle (a quote verifies iff it comes from a genuine TD); time is the block
 * number; the chain's consensus is honest (the real blocks are the Chain process's).
 *
 * Run everything: formal/check.sh. One property by hand (in a scratch directory):
 *   spin -DSCENARIO_APP -a keygate.pml && gcc -O2 -o pan pan.c && ./pan -a -N p1
 *   (a counterexample: spin -t -p -g -DSCENARIO_APP keygate.pml, with the same defines)
 */

/* ---- sizes (small on purpose: every check completes in seconds) ------------------------------ */
#ifndef MAXB
#define MAXB 2          /* blocks 0..MAXB; block 0 is genesis */
#endif
#ifndef NODES
#define NODES 2         /* policy.rpc_urls: chain nodes; node 0 is the attacker's */
#endif
#ifndef QUORUM
#define QUORUM NODES    /* policy.quorum (default: all of them) */
#endif
#ifndef MAXAGE
#define MAXAGE 0        /* policy.max_block_age_s, in blocks; policy.confirmations is 0 */
#endif
#ifndef ATTACKER_REQS
#define ATTACKER_REQS 1 /* requests the attacker injects (each attack needs one) */
#endif
#ifndef VM_ROUNDS
#define VM_ROUNDS 1     /* the agent's rounds over KMS URLs (retry with backoff) */
#endif

/* Scenarios. Requests are decided independently of each other (no cache is modelled), so a
 * property about app keys is checked with the app VM and the attacker's app-key requests
 * (SCENARIO_APP), and one about root keys with the replica and the attacker's root-key
 * requests (SCENARIO_ROOT); the chain, the KMS and the attacker's node, PCCS and disk are in
 * both. Without either define, everything runs at once (a larger state space). */
#if !defined(SCENARIO_APP) && !defined(SCENARIO_ROOT)
#define SCENARIO_APP
#define SCENARIO_ROOT
#endif

/* With MUTANT_SKIP_QUORUM the KMS believes one node (the first configured: the attacker's). */
#ifdef MUTANT_SKIP_QUORUM
#define HONEST_ASKED 0
#define Q 1
#else
#define HONEST_ASKED (NODES - 1)
#define Q QUORUM
#endif

/* ---- values --------------------------------------------------------------------------------- */
#define NONE    0
#define SILENT  255     /* a chain node that does not answer */
#define NEVER   255     /* "not revoked" */

/* app ids (the app-id event) */
#define APP_V   1       /* the victim app, governed on chain */
#define APP_KMS 2       /* the KMS contract: the app id a KMS of this deployment measures */

/* compose hashes (the compose-hash event) = the code an app VM runs */
#define H1      1       /* app V's current version: allowed at genesis, may be revoked */
#define H2      2       /* app V's next version: may be allowed later */
#define HE      3       /* the attacker's code: V's governance never allows it */
#define HK      4       /* the KMS compose document's hash */

/* mr_aggregated (computed by the KMS from the quote; covers RTMR3, so the measured identity) */
#define MR_KB1   1      /* this KMS's build, its identity measured */
#define MR_KB2   2      /* the replica's build, its identity measured */
#define MR_BLANK 3      /* a blank VM of the same OS image: nothing in RTMR3 */
#define MR_OTHER 4      /* any other TD (an app VM, an attacker's TD) */
/* docs/design.md, "KMS identity": with MUTANT_NO_KMS_IDENTITY a KMS measures nothing, so
 * the mr_aggregated governance allows for it is a blank VM's. */
#ifdef MUTANT_NO_KMS_IDENTITY
#define MR_OF_KB1 MR_BLANK
#define MR_OF_KB2 MR_BLANK
#else
#define MR_OF_KB1 MR_KB1
#define MR_OF_KB2 MR_KB2
#endif

/* who holds a certificate's private key (ground truth: whom a reply over that TLS session
 * reaches); the KMS never sees this */
#define P_HONEST  1     /* the honest app VM (runs vm_code) */
#define P_ATT_VM  2     /* a genuine TD the attacker controls (runs HE) */
#define P_HOST    3     /* the attacker outside any TEE */
#define P_BLANK   4     /* a blank VM on the KMS's OS image, the attacker's */
#define P_REPLICA 5     /* an honest KMS replica (build KB2) */

/* what a certificate's evidence is, as its maker could make it (perfect crypto):
 *   F_GENUINE  the quote verifies under Intel's root (DCAP oracle)
 *   F_BOUND    REPORTDATA = SHA-512("ratls-cert:" || SPKI) of this certificate's key
 *   F_TYPED    every RTMR3 event is a dstack event (0x08000001) whose digest is recomputed
 *   F_ORDERED  reserved events at most once, none after system-ready, identity before
 *              boot-mr-done (docs/design.md, "Event log rules" 1 and 3)
 * A log that replays to RTMR3 with F_TYPED and F_ORDERED reads one way: its identity is what
 * the TD measured. Only a log without one of them can state an identity the TD did not
 * measure (the attacker's forged logs below). */
#define F_GENUINE 1
#define F_BOUND   2
#define F_TYPED   4
#define F_ORDERED 8
#define F_HONEST  15

/* what answers the agent's TLS handshake (the network decides) */
#define S_KMS     1     /* the KMS: a kms:rpc leaf issued directly by the pinned root */
#define S_IMPOSTOR 2    /* anything else the attacker can present: a leaf minted with the
                         * public temporary CA key (a self-signed CA), a leaf under an app CA
                         * under the root (a chain of three), a self-signed certificate; each
                         * fails rule 1, and none can make the root's k256_signature (rule 3) */
#define S_ROOT    5     /* a kms:rpc leaf signed with stolen root keys (MUTANT_PLAINTEXT_ROOT_KEYS) */

/* outcomes (kg_err_http_status) */
#define O_NONE    0
#define O_OK      1     /* 200 */
#define O_DENIED  2     /* 403: refused, final */
#define O_UNAVAIL 3     /* 503: could not decide, the client tries its next KMS */

/* what a release hands out */
#define K_APP  1        /* an app's keys (GetAppKey, SignCert) */
#define K_ROOT 2        /* the root keys (GetKmsKey) */

mtype = { GetAppKey, GetKmsKey };

/* ---- channels ------------------------------------------------------------------------------- */
/* The network into the KMS: method, key holder (ground truth, never read by the decision),
 * evidence flags, and the identity the evidence states (app id, compose hash, mr_aggregated). */
chan net = [2] of { mtype, byte, byte, byte, byte, byte };
/* The KMS's answer to the honest VM (other callers' answers need no channel: a release to
 * them is observed directly, below). */
chan to_vm = [1] of { byte };

/* ---- the chain ------------------------------------------------------------------------------ */
byte head;                  /* the highest real block */
byte app_ok[MAXB + 2];      /* per block: bit h set = isAppAllowed(V, compose h) */
byte kms_ok[MAXB + 2];      /* per block: bit 0 = build KB1 allowed, bit 1 = build KB2 */
byte revoked_at[5];         /* per compose hash: the block that revoked it, or NEVER */

/* ---- observations (what the properties read) ------------------------------------------------ */
bool released;              /* true in exactly the state after a release */
byte rel_kind, rel_holder, rel_app, rel_code, rel_block, rel_head, rel_req;
bool rel_real;              /* the decision block is a block of the real chain */
byte logged;                /* bit r: the release of request r is durably recorded */
bool root_leaked;           /* MUTANT_PLAINTEXT_ROOT_KEYS: the attacker copied state_dir */

byte vm_code;               /* the compose hash the honest VM runs */
bool vm_running;            /* the honest app runs, with keys */
bool vm_keys_from_kms;      /* ... that the KMS released to it */

/* ---- governance truth at a real block b ------------------------------------------------------ */
#define APP_TRUTH(b, app, compose) \
    ((app) == APP_V && (compose) >= H1 && (compose) <= H2 && ((app_ok[b] >> (compose)) & 1))
#define KMS_TRUTH(b, mr) \
    (((mr) == MR_OF_KB1 && (kms_ok[b] & 1)) || ((mr) == MR_OF_KB2 && (kms_ok[b] & 2)))
/* the code each holder really runs */
#define CODE_OF(p) ((p) == P_HONEST -> vm_code : ((p) == P_ATT_VM -> HE : NONE))

/* ---- properties ----------------------------------------------------------------------------- */
/* P1: an app's keys go only to code its governance allowed at the decision's block, through a
 *     KMS governance allowed at that block (isAppAllowed runs on the KMS contract, which also
 *     holds the KMS builds; a KMS revoked there serves nothing). */
#define P1_OK (rel_app == APP_V && rel_real && rel_block <= head && \
               rel_code >= H1 && rel_code <= H2 && ((app_ok[rel_block] >> rel_code) & 1) && \
               (kms_ok[rel_block] & 1))
/* P2: the root keys go only to a KMS node whose build governance allowed at the decision's
 *     block (and never anywhere else: MUTANT_PLAINTEXT_ROOT_KEYS shows the disk copy). */
#define P2_OK (!root_leaked && rel_real && rel_block <= head && rel_holder == P_REPLICA && \
               (kms_ok[rel_block] & 2))
/* P3: a release is preceded by its durable record. */
#define P3_OK ((logged >> rel_req) & 1)
/* P4: a compose hash revoked at block r gets nothing from a decision taken once the chain has
 *     passed r by MAXAGE blocks (MAXAGE 0: from the moment block r exists). */
#define P4_OK (rel_code < H1 || rel_code > H2 || revoked_at[rel_code] == NEVER || \
               revoked_at[rel_code] + MAXAGE > rel_head)
/* P5: the app runs only with keys the KMS released to it (the agent authenticates the KMS). */
#define P5_OK (vm_keys_from_kms)

ltl p1 { [] ((released && rel_kind == K_APP) -> P1_OK) }
ltl p2 { [] (((released && rel_kind == K_ROOT) || root_leaked) -> P2_OK) }
ltl p3 { [] (released -> P3_OK) }
ltl p4 { [] ((released && rel_kind == K_APP) -> P4_OK) }
ltl p5 { [] (vm_running -> P5_OK) }

/* Witnesses (must FAIL, with a counterexample, on the correct model): the properties above are
 * not vacuous, because releases do happen: app keys to the honest VM, the root keys to the
 * replica, and the honest app runs. */
ltl w_app  { [] !(released && rel_kind == K_APP && rel_holder == P_HONEST) }
ltl w_root { [] !(released && rel_kind == K_ROOT && rel_holder == P_REPLICA) }
ltl w_run  { [] !(vm_running && vm_keys_from_kms) }

/* ==== Chain ================================================================================== */
/* Genesis: H1 allowed, H2 not; both KMS builds allowed. Each new block carries at most one
 * governance event. Revocation is final in the model (a re-allow would be a new allow, outside
 * P4), so each hash is allowed at most once and revoked at most once: H1 can be revoked, H2 can
 * be allowed. */
active proctype Chain()
{
    byte nb, a, k;
    atomic {
        head = 0; app_ok[0] = (1 << H1); kms_ok[0] = 3;
        revoked_at[H1] = NEVER; revoked_at[H2] = NEVER
    };
end_chain:
    do
    :: head < MAXB ->
        atomic {
            nb = head + 1; a = app_ok[head]; k = kms_ok[head];
            if
            :: skip                                                     /* no event */
            :: ((a >> H1) & 1) -> a = a & ~(1 << H1); revoked_at[H1] = nb   /* revoke H1 */
            :: !((a >> H2) & 1) && revoked_at[H2] == NEVER -> a = a | (1 << H2) /* allow H2 */
            :: (k & 1) -> k = k & ~1                                    /* revoke build KB1 */
            :: (k & 2) -> k = k & ~2                                    /* revoke build KB2 */
            fi;
            app_ok[nb] = a; kms_ok[nb] = k; head = nb;
            nb = 0; a = 0; k = 0
        }
    :: head == MAXB -> break
    od
}

/* ==== KMS ==================================================================================== */

/* kms/chain.c kms_chain_block: the decision block. Node 0 is the attacker's (lying, stale or
 * silent: ATTACKER chooses); nodes 1..NODES-1 are honest and at the real head. Sets vres
 * (O_OK, O_DENIED: nodes disagree, O_UNAVAIL: too few answers or stale), b, breal, vhead. */
inline chain_view()
{
    vhead = head;
    /* 1. heads: the honest nodes report the real head; ATTACKER: silent, or any block up to one
     *    beyond the real head (a block it invents) */
    if
    :: lh = SILENT
    :: lh = 0; do :: lh < vhead + 1 -> lh++ :: break od
    fi;
    nans = HONEST_ASKED + (lh != SILENT -> 1 : 0);
    if
    :: nans < Q -> vres = O_UNAVAIL
    :: else ->
        /* 2. the highest block a quorum has reached (heads sorted, the Q-th), minus
         *    policy.confirmations (0) */
        if
        :: lh == SILENT -> b = vhead
        :: lh != SILENT && lh > vhead -> b = (Q == 1 -> lh : vhead)
        :: lh != SILENT && lh <= vhead -> b = (Q <= HONEST_ASKED -> vhead : lh)
        fi;
        /* 3. every node is asked for that block's hash; honest nodes know it iff it is real.
         *    ATTACKER: silent, the real hash, or one of a block it invents (a fork) */
        hon = (b <= vhead -> HONEST_ASKED : 0);
        if
        :: lhash = SILENT
        :: b <= vhead -> lhash = 1                       /* the real hash */
        :: lhash = 2                                     /* a forged hash */
        fi;
        nans = hon + (lhash != SILENT -> 1 : 0);
        if
        :: nans < Q -> vres = O_UNAVAIL                    /* "chain view unavailable" */
        :: nans >= Q && hon > 0 && lhash == 2 -> vres = O_DENIED /* "chain nodes disagree" */
        :: else ->
            breal = (hon > 0 || lhash == 1);
            /* 4. freshness: a real block's timestamp is its number; ATTACKER stamps a block
             *    it invents with the current time */
#ifdef MUTANT_STALE_BLOCK
            vres = O_OK
#else
            if
            :: (breal -> b : vhead) + MAXAGE >= vhead -> vres = O_OK
            :: else -> vres = O_UNAVAIL                  /* "chain view is stale" */
            fi
#endif
        fi
    fi;
    lh = 0; lhash = 0; hon = 0; nans = 0
}

/* kms/chain.c kms_chain_policy / kms_chain_kms_info: one answer at block b (an eth_call
 * pinned to its hash), asked of every node; all that answer must agree and Q must answer.
 * truth is the real chain's answer (only read when b is real). Sets ares: 1 yes, 0 no,
 * O_DENIED disagreement, O_UNAVAIL too few answers. ATTACKER: node 0 answers what it likes. */
inline quorum_answer(truth)
{
    hon = (breal -> HONEST_ASKED : 0);   /* honest nodes cannot answer at an invented block */
    if
    :: la = SILENT
    :: la = 1
    :: la = 0
    fi;
    nans = hon + (la != SILENT -> 1 : 0);
    if
    :: nans < Q -> ares = O_UNAVAIL
    :: nans >= Q && hon > 0 && la != SILENT && la != (truth -> 1 : 0) -> ares = O_DENIED
    :: else -> ares = (hon > 0 -> (truth -> 1 : 0) : la)
    fi;
    la = 0; hon = 0; nans = 0
}

/* kms/policy.c kms_self_check: isKmsAllowed(own measured identity) and kmsInfo = own keys, at
 * the chain view's block; the result is self_allowed() until the next check. */
inline self_check()
{
    chain_view();
    if
    :: vres == O_OK ->
        quorum_answer(KMS_TRUTH(b, MR_OF_KB1));
        self_ok = (ares == 1)
    :: else -> self_ok = false
    fi;
    checked_at = head;
    vres = 0; ares = 0; b = 0; breal = 0; vhead = 0
}

/* A release: the observation the properties read, true for exactly one state. */
inline RELEASE()
{
    released = true; rel_req = req; rel_holder = holder; rel_real = breal; rel_block = b;
    rel_head = vhead; rel_app = app; rel_code = CODE_OF(holder);
    rel_kind = (caller_kms -> K_ROOT : K_APP)
}

inline UNPULSE()
{
    released = false; rel_kind = 0; rel_holder = 0; rel_app = 0; rel_code = 0; rel_block = 0;
    rel_head = 0; rel_real = 0; rel_req = 0
}

active proctype KMS()
{
    mtype m;
    byte holder, flags, app, compose, mr;    /* the request as it arrived */
    byte out;                                /* the outcome */
    byte b, vhead, vres, ares, lh, lhash, la, hon, nans;
    bool breal, self_ok, caller_kms;
    byte req = 0, checked_at;

    /* kms/main.c: the KMS has measured its identity into RTMR3 (kms/identity.c) before any
     * quote; the first self-check runs before it serves. */
    atomic { self_check() };
end_kms:
    do
    :: atomic {
            net ? m, holder, flags, app, compose, mr ->   /* one step: receive and decide */
            caller_kms = (m == GetKmsKey);
            out = O_NONE;
            /* -- 1. who is asking: attest (kms/attest.c kms_attest_peer -> lib/ratls
             *       kg_ratls_verify_cert: binding, DCAP, event log rules -> kg_boot_identity)
             *    ATTACKER (network): the PCCS is unreachable -> an outage */
            if
            :: out = O_UNAVAIL
            :: skip
            fi;
            if
            :: out == O_NONE ->
                if
#ifndef MUTANT_SKIP_BINDING
                :: !(flags & F_BOUND) -> out = O_DENIED     /* REPORTDATA is not this key's */
#endif
#ifndef MUTANT_SKIP_DCAP
                :: !(flags & F_GENUINE) -> out = O_DENIED   /* DCAP: not a genuine TD */
#endif
#ifndef MUTANT_ACCEPT_UNTYPED_EVENTS
                :: !(flags & F_TYPED) -> out = O_DENIED     /* lib/eventlog rule 1 */
#endif
#ifndef MUTANT_LAX_EVENT_ORDER
                :: !(flags & F_ORDERED) -> out = O_DENIED   /* lib/eventlog rule 3 */
#endif
                :: else -> skip
                fi
            :: else -> skip
            fi;
            /* lib/kms/decision.c: a KMS caller must have measured this deployment's KMS
             * identity (app-id = the KMS contract), never a usage string it wrote */
#ifndef MUTANT_NO_KMS_IDENTITY
            if
            :: out == O_NONE && caller_kms && app != APP_KMS -> out = O_DENIED
            :: else -> skip
            fi;
#endif
            /* -- 2. may this KMS serve at all (the last self-check) */
#ifndef MUTANT_SKIP_STANDING
            if
            :: out == O_NONE && !self_ok -> out = O_UNAVAIL
            :: else -> skip
            fi;
#endif
            /* -- 3. governance, at one block (kms/policy.c eth_ask) */
            if
            :: out == O_NONE ->
                chain_view();
                if
                :: vres != O_OK -> out = vres
                :: else -> skip
                fi
            :: else -> skip
            fi;
            /* a release of app keys also needs this KMS to stand at that very block
             * (standing_at: isKmsAllowed(self) and kmsInfo, by the same quorum) */
#ifndef MUTANT_SKIP_STANDING
            if
            :: out == O_NONE && !caller_kms ->
                quorum_answer(KMS_TRUTH(b, MR_OF_KB1));
                if
                :: ares == 1 -> skip
                :: ares == O_DENIED -> out = O_DENIED
                :: else -> out = O_UNAVAIL                  /* "ask another KMS" */
                fi
            :: else -> skip
            fi;
#endif
            if
            :: out == O_NONE && !caller_kms -> quorum_answer(APP_TRUTH(b, app, compose))
            :: out == O_NONE && caller_kms -> quorum_answer(KMS_TRUTH(b, mr))
            :: else -> skip
            fi;
            if
            :: out == O_NONE && ares == 1 -> out = O_OK
            :: out == O_NONE && ares != 1 && ares != O_UNAVAIL -> out = O_DENIED /* no, or disagree */
            :: out == O_NONE && ares == O_UNAVAIL -> out = O_UNAVAIL
            :: else -> skip
            fi;
            ares = 0;

            /* -- 4. derive (lib/kdf: from the root keys and the verified app id; perfect and
             *       deterministic, so the release below names the app id and the holder) */
            vres = 0
        };
        /* -- 5. record durably (lib/audit via kg_kms_record_release), then release (kms/rpc.c
         *       release(): the reply leaves only after the record committed). Each is its own
         *       step, so a property sees the state between them. */
#ifdef MUTANT_RELEASE_BEFORE_RECORD
        if
        :: out == O_OK -> atomic { RELEASE() }; atomic { UNPULSE() }
        :: else -> skip
        fi;
#endif
        if
        :: out == O_OK ->
            atomic {
                if
                :: logged = logged | (1 << req)              /* committed */
                :: out = O_UNAVAIL                           /* ATTACKER (disk): write fails */
#ifdef MUTANT_IGNORE_RECORD_FAILURE
                    ; out = O_OK                             /* ... and it releases anyway */
#endif
                fi
            }
        :: else -> skip
        fi;
#ifndef MUTANT_RELEASE_BEFORE_RECORD
        if
        :: out == O_OK -> atomic { RELEASE() }
        :: else -> skip
        fi;
#endif
        /* -- the reply (only the honest VM's is followed; the others' are the releases) */
        atomic {
            UNPULSE();
            if
            :: holder == P_HONEST -> to_vm ! out
            :: else -> skip
            fi;
            req++;
            m = 0; holder = 0; flags = 0; app = 0; compose = 0; mr = 0; out = 0; caller_kms = 0;
            b = 0; vhead = 0; breal = 0
        }
    :: checked_at < head -> atomic { self_check() }   /* self_check_interval_s */
    od
}

/* ==== the honest app VM (lib/agent/boot.c kg_agent_boot) ===================================== */
/* docs/design.md, "Authenticating the KMS" 1-4: a chain of exactly two under the pinned root,
 * usage kms:rpc, ca_cert = the root, k256_signature and the env key's signature by the root
 * secp256k1 key. Only the KMS (or whoever holds the root keys) passes. Without --pccs (the
 * weaker configuration) that is all the agent checks; with it, also the KMS's own attestation
 * and isKmsAllowed (not modelled: P5 holds without it). */
#ifdef MUTANT_AGENT_TRUSTS_ANY_SERVER
#define AGENT_TRUSTS(s) true
#else
#define AGENT_TRUSTS(s) ((s) == S_KMS || (s) == S_ROOT)
#endif

#ifdef SCENARIO_APP
active proctype AppVM()
{
    byte round = 0, srv, st;
    atomic {
        /* the operator deploys one version of app V; its governance may or may not allow it */
        if
        :: vm_code = H1
        :: vm_code = H2
        fi
        /* RTMR3: system-preparing, app-id = V, compose-hash = vm_code, instance-id,
         * boot-mr-done (the VM's RA-TLS certificate carries them: F_HONEST) */
    };
    /* rounds over the KMS URLs (a 503 or an unreachable KMS: the next; a refusal: the end).
     * Each round is one step; it waits for the KMS's answer inside (atomicity is lost while
     * it waits). */
    do
    :: atomic {
            round < VM_ROUNDS -> round++;
            /* the TLS handshake: ATTACKER (network, host) decides who answers */
            if
            :: srv = S_KMS
            :: srv = S_IMPOSTOR
            :: root_leaked -> srv = S_ROOT
            fi;
            if
            :: AGENT_TRUSTS(srv) && srv == S_KMS ->
                /* GetAppKey over RA-TLS with the VM's own certificate */
                net ! GetAppKey, P_HONEST, F_HONEST, APP_V, vm_code, MR_OTHER;
                to_vm ? st;
                srv = 0;
                if
                :: st == O_OK -> st = 0; vm_keys_from_kms = true; break
                :: st == O_DENIED -> st = 0; goto failed     /* a refusal ends the boot */
                :: else -> st = 0                            /* 503: the next KMS / round */
                fi
            :: AGENT_TRUSTS(srv) && srv != S_KMS ->
                srv = 0; vm_keys_from_kms = false; break     /* an impostor's "keys" */
            :: else -> srv = 0                               /* refused at the handshake */
            fi
        }
    :: else -> goto failed
    od;
    /* os-image-hash, key-provider, system-ready: then the app starts, with the keys */
    vm_running = true;
failed:
    skip
}
#endif

/* ==== an honest replica onboarding (kms/main.c --onboard): GetKmsKey ======================== */
#ifdef SCENARIO_ROOT
active proctype Replica()
{
    net ! GetKmsKey, P_REPLICA, F_HONEST, APP_KMS, HK, MR_OF_KB2
}
#endif

/* ==== the attacker: network, host, disk, one chain node ====================================== */
/* Each request is one of the certificates the attacker can make (perfect crypto): of its own
 * TD (genuine, bound, its real identity), of its own TD with a log that states another
 * identity (needs untyped events or a reserved event twice / after system-ready), with a quote
 * replayed from another TD (genuine but not bound to the attacker's key), or with a forged
 * quote (not genuine). Its node's lies and the PCCS / disk faults are chosen in the KMS. */
active proctype Attacker()
{
    byte n = 0, c;
    /* (the attacker can wait: its request may come before or after any other step, but only
     * once the honest VM exists, so that its quote can be replayed) */
#ifdef SCENARIO_APP
    vm_code != NONE;
#endif
    do
    :: n < ATTACKER_REQS ->
        n++;
        if
#ifdef SCENARIO_APP
        /* GetAppKey for app V */
        :: net ! GetAppKey, P_ATT_VM, F_HONEST, APP_V, HE, MR_OTHER
                                    /* its own TD, its true log */
        :: if :: c = H1 :: c = H2 fi;
           if
           :: net ! GetAppKey, P_ATT_VM, F_GENUINE | F_BOUND | F_ORDERED, APP_V, c, MR_OTHER
                                    /* its own TD; the log states V/c in events of another type */
           :: net ! GetAppKey, P_ATT_VM, F_GENUINE | F_BOUND | F_TYPED, APP_V, c, MR_OTHER
                                    /* its own TD; a second compose-hash (or one after
                                     * system-ready) states c */
           :: net ! GetAppKey, P_HOST, F_BOUND | F_TYPED | F_ORDERED, APP_V, c, MR_OTHER
                                    /* a forged quote */
           fi
        :: net ! GetAppKey, P_HOST, F_GENUINE | F_TYPED | F_ORDERED, APP_V, vm_code, MR_OTHER
                                    /* the honest VM's quote, replayed in its own certificate */
#endif
#ifdef SCENARIO_ROOT
        /* GetKmsKey: the root keys */
        :: net ! GetKmsKey, P_BLANK, F_HONEST, NONE, NONE, MR_BLANK
                                    /* a blank VM of the KMS's OS image, measuring nothing */
        :: net ! GetKmsKey, P_ATT_VM, F_HONEST, APP_KMS, HE, MR_OTHER
                                    /* its own TD, measuring app-id = the KMS contract */
        :: net ! GetKmsKey, P_HOST, F_GENUINE | F_TYPED | F_ORDERED, APP_KMS, HK, MR_OF_KB2
                                    /* the replica's quote, replayed */
        :: net ! GetKmsKey, P_HOST, F_BOUND | F_TYPED | F_ORDERED, APP_KMS, HK, MR_OF_KB1
                                    /* a forged quote */
#endif
        fi;
        c = 0
    :: break
    od;
    /* The operator's disk holds the root keys sealed (kms/seal.c: root-keys.sealed opens only
     * with this VM's TEE sealing key or t recovery holders' shares), so a copy of state_dir is
     * ciphertext: the model gives the attacker no step from it. */
#ifdef MUTANT_PLAINTEXT_ROOT_KEYS
    /* the flaw: root-ca.key and root-k256.key as plain files in state_dir, as before sealing.
     * A copy is the root keys. */
    if
    :: root_leaked = true
    :: skip
    fi
#endif
}
