/* core/dstack.h — the client of a dstack guest agent (shared/specs/dstack.md sections 1, 2, 3 and
 * 12) and the choice of which agent to talk to (DESIGN.md "The TEE endpoint").
 *
 * Transports: a Unix socket or an http(s):// URL (the path of the URL is discarded: requests go
 * to /<Method>), both through core/http_client; or a th_simulator in this process (no socket,
 * the same JSON in and out; callbacks still run from the loop, never inside the starting call).
 * Requests: POST, Content-Type: application/json, byte Content-Length, compact JSON. A reply
 * that is not 200, or a JSON object with an "error" key, is an error carrying that message.
 * Legacy agents (tappd.sock, or the TAPPD_SIMULATOR_ENDPOINT): the current methods are mapped to
 * /prpc/Tappd.* (GetKey -> DeriveK256Key with its fields renamed back, GetQuote -> RawQuote with
 * the data padded, Info -> Info); methods with no legacy form fail with TH_EINVAL
 * "<Method> needs dstack 0.4.2 or later (this is a legacy tappd endpoint)".
 * Feature probe: before GetKey with algorithm other than secp256k1 and before GetTlsKey with
 * not_before/not_after/with_app_info, /Version is called once per client (result cached); when
 * it fails: TH_EPROTO `algorithm "ed25519" is not supported: OS version too old (Version RPC
 * unavailable)` (the SDKs' wording).
 *
 * A probe answered with anything but 200 and a JSON object holding a "version" string fails and
 * that is cached; a probe that could not reach the agent is not cached (the waiting calls fail
 * with the transport's error, and the next call probes again). The TLS-options wording is
 * `TLS key options [not_before, with_app_info] are not supported: OS version too old (Version
 * RPC unavailable)` (the options the call used).
 *
 * Errors are prefixed by the method as the caller spelled it: "GetQuote: Report data is too
 * long" (TH_EPROTO, the agent's text), "GetKey: the agent's answer is not JSON (HTTP 502)"
 * (TH_EPROTO), "GetKey: agent answered HTTP 404" (TH_EPROTO, non-200 without an "error"),
 * "Info: connect to /var/run/dstack.sock: No such file or directory" (the transport's code:
 * TH_ECONNREFUSED, TH_ETIMEDOUT, ...).
 *
 * Synchronous failures (th_dstack_request returns NULL with err, the callback is never called):
 * TEE_MODE NONE/OFF -> TH_EINVAL "no TEE: TEE_MODE is NONE" (or OFF); a method with no legacy
 * form on a legacy endpoint; a cached failed Version probe; a bad method name or body; a
 * transport that cannot start.
 *
 * Ownership: th_dstack_new returns a client the caller frees (th_dstack_free cancels in-flight
 * calls without calling their callbacks; it may be called from inside a callback; run the loop
 * afterwards so handles of built-in calls close). A th_dstack_call is valid until its callback
 * returns or it is cancelled. The callback owns `result` (cJSON_Delete); err is borrowed. */
#ifndef TH_DSTACK_H
#define TH_DSTACK_H

#include <cjson/cJSON.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "error.h"
#include "http_client.h"
#include "simulator.h"

enum th_tee_kind {
  TH_TEE_AGENT = 1,     /* a dstack agent (real or external simulator) at target */
  TH_TEE_LEGACY = 2,    /* a legacy tappd agent at target (/prpc/ only) */
  TH_TEE_BUILTIN = 3,   /* the simulator in this process */
  TH_TEE_NONE = 4       /* TEE_MODE=NONE/OFF: calls fail with "no TEE: TEE_MODE is NONE" */
};

typedef struct th_tee_endpoint {
  int kind;             /* enum th_tee_kind */
  char target[512];     /* Unix socket path or http(s) URL; "" for BUILTIN/NONE */
  int is_url;
  char mode[16];        /* the TEE_MODE value used, "" when unset */
  char source[64];      /* why: "--tee", "DSTACK_SIMULATOR_ENDPOINT", "TAPPD_SIMULATOR_ENDPOINT",
                           "TEE_MODE=LOCAL", "default" */
} th_tee_endpoint;

/* Environment lookup and file test, injected so tests need not touch the process's. */
typedef const char *(*th_getenv_fn)(void *ud, const char *name);
typedef int (*th_exists_fn)(void *ud, const char *path);

/* getenv_fn NULL = the process's getenv; exists_fn NULL = access(path, F_OK). Empty values count
 * as unset. An explicit or environment endpoint starting with http:// or https:// is a URL,
 * anything else a Unix socket path, not checked here (the first call reports a missing one); a
 * socket path whose last component is tappd.sock is LEGACY. TEE_MODE is validated (and recorded
 * in out->mode) even when an endpoint above it wins.
 * The selection (DESIGN.md): explicit (--tee URL|PATH, may be NULL) > DSTACK_SIMULATOR_ENDPOINT >
 * TAPPD_SIMULATOR_ENDPOINT (legacy) > TEE_MODE (PHALA_DSTACK/TDX_DSTACK/PRODUCTION -> the first
 * existing of /var/run/dstack.sock, /run/dstack.sock, /var/run/dstack/dstack.sock,
 * /run/dstack/dstack.sock, else of the same tappd.sock paths (legacy), else /var/run/dstack.sock;
 * LOCAL -> http://localhost:8090; DOCKER -> http://host.docker.internal:8090; SIMULATOR ->
 * built-in; NONE/OFF -> none) > unset: a real socket if one exists, else built-in.
 * An invalid TEE_MODE: TH_EINVAL "TEE_MODE: invalid value 'foo' (valid: PHALA_DSTACK, TDX_DSTACK,
 * PRODUCTION, LOCAL, DOCKER, SIMULATOR, NONE, OFF)". */
int th_tee_endpoint_select(const char *explicit_tee, th_getenv_fn getenv_fn, void *env_ud,
                           th_exists_fn exists_fn, void *exists_ud, th_tee_endpoint *out,
                           th_err *err);

/* The one-line report: "tee: dstack at /var/run/dstack.sock", "tee: dstack at
 * http://localhost:8090 (TEE_MODE=LOCAL)", "tee: legacy tappd at /var/run/tappd.sock",
 * (" (<source>)" is appended for AGENT/LEGACY whenever the source is not "default"),
 * "tee: built-in simulator (quotes are NOT trusted by Intel's root)", "tee: none (TEE_MODE=NONE)". */
void th_tee_endpoint_describe(const th_tee_endpoint *ep, char *buf, size_t size);

typedef struct th_dstack th_dstack;
typedef struct th_dstack_call th_dstack_call;
typedef void (*th_dstack_cb)(void *ud, cJSON *result, const th_err *err);

/* http may be NULL for BUILTIN/NONE; sim is required for BUILTIN (borrowed). */
th_dstack *th_dstack_new(th_http_client *http, const th_tee_endpoint *ep, th_simulator *sim,
                         uv_loop_t *loop, th_err *err);
void th_dstack_free(th_dstack *client);

/* Calls method ("GetKey", "GetQuote", "Info", "Tappd.TdxQuote" / "TdxQuote" for the legacy ones)
 * with a JSON object body (borrowed; NULL = {}). Returns NULL with err when it cannot start.
 * method: 1..48 characters of [A-Za-z0-9_.]. "TdxQuote", "DeriveKey", "RawQuote",
 * "DeriveK256Key" and any "Tappd.<M>" go to /prpc/Tappd.<M> on every endpoint kind, their
 * replies untouched. On LEGACY endpoints GetKey, GetQuote, Info and Version are mapped (GetQuote's
 * reply gains the padded "report_data" and vm_config "" when the agent leaves them out). */
th_dstack_call *th_dstack_request(th_dstack *client, const char *method, const cJSON *body,
                                  th_dstack_cb cb, void *ud, th_err *err);
/* NULL is ok. Must not be called after the callback started. */
void th_dstack_cancel(th_dstack_call *call);

/* Whole-request deadline of every later request (default 30000 ms; 0 = none). */
void th_dstack_set_timeout(th_dstack *client, long timeout_ms);

/* The reply handling of every call, exposed for tests and the fuzz target: body[0, len) (need
 * not be NUL-terminated) answered with HTTP status -> *out (a JSON value, cJSON_Delete) or -1
 * with the errors listed above, prefixed by method. */
int th_dstack_parse_reply(const char *method, long status, const char *body, size_t len,
                          cJSON **out, th_err *err);

/* Typed decoding of replies (TH_EPROTO naming the field: "GetKey: key: expected 64 hex digits,
 * got 10"). */
typedef struct th_dstack_key {
  uint8_t key[32]; /* secret: wipe after copying */
  uint8_t chain[2][65];
  int chain_len;   /* 0..2: the non-empty entries (chain[1] may be "" on local key providers,
                      then chain_len is 1); key: 64 hex digits, entries 130 hex digits, at most
                      2 entries, only the second may be "". The key is wiped on failure. */
} th_dstack_key;
int th_dstack_decode_key(const cJSON *result, th_dstack_key *out, th_err *err);

typedef struct th_dstack_quote {
  uint8_t *quote;     /* malloc'd */
  size_t quote_len;
  char *event_log;    /* malloc'd JSON text */
  uint8_t report_data[64];
  char *vm_config;    /* malloc'd, may be "" */
} th_dstack_quote;
/* quote: non-empty even-length hex; event_log: a string (not parsed here); report_data: 128 hex
 * digits; vm_config: a string, "" when absent (agents before 0.5.4). On failure *out holds
 * nothing to free. */
int th_dstack_decode_quote(const cJSON *result, th_dstack_quote *out, th_err *err);
void th_dstack_quote_free(th_dstack_quote *q); /* frees the fields, not q; NULL is ok */

/* Internal: the BUILTIN transport (core/dstack_builtin.c), used by core/dstack.c only. Runs
 * th_simulator_call(sim, "POST", path, …) from a 0 ms uv timer; cb gets the status and the
 * borrowed body, or err (then body is NULL). Cancel before the callback: it is never called. */
typedef void (*th_dstack_raw_cb)(void *ud, long status, const char *body, size_t len,
                                 const th_err *err);
typedef struct th_dstack_sim_call th_dstack_sim_call;
th_dstack_sim_call *th_dstack_sim_start(th_simulator *sim, uv_loop_t *loop, const char *path,
                                        const char *body, size_t len, th_dstack_raw_cb cb,
                                        void *ud, th_err *err);
void th_dstack_sim_cancel(th_dstack_sim_call *call);

#endif
