/* core/simulator.h — teehost's dstack guest-agent simulator (shared/specs/dstack.md section 11;
 * DESIGN.md "The simulator"): the current API and the legacy tappd API (/prpc/…) answered
 * byte-compatibly, so @phala/dstack-sdk and the Python SDK work against it unchanged.
 *
 * State (generated once, kept under dir = $TEEHOST_HOME/simulator, 0700; files 0600 via
 * core/secret_file; a group-readable one is refused with a chmod hint):
 *   identity.json — KMS root secp256k1 key, app id, instance seed, CA P-256 key (PKCS#8 PEM) and
 *                   CA certificate (PEM), app-compose text; the app key is derived from the KMS
 *                   root as the KMS does it (HKDF(root, app_id ‖ "app-key")) and its
 *                   k256_signature computed (spec 4.3);
 *   dcap/         — the simulated Intel-like PKI (core/sim_pki).
 * With reset, all of it is made anew. Everything else (the event log, RTMR3 extended by
 * EmitEvent) lives in memory: a restart is a reboot.
 *
 * Quotes are complete TDX v4 quotes from core/sim_pki: REPORTDATA as the call asks, RTMR0–3 the
 * replay of the event log returned with them, MRCONFIGID 0x01 ‖ compose_hash ‖ zeros. Runtime
 * digests in returned logs are filled in.
 *
 * Ownership: th_simulator_open returns an object the caller frees with th_simulator_free (after
 * closing its servers). Synchronous: a call does its crypto and returns (well under 1 ms except
 * GetTlsKey's key generation). No globals: two simulators in one process are independent. */
#ifndef TH_SIMULATOR_H
#define TH_SIMULATOR_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "error.h"
#include "sim_pki.h"

typedef struct th_simulator th_simulator;

typedef struct th_simulator_opts {
  const char *dir; /* required: where the state lives */
  int reset;       /* make new secrets even if some exist */
  /* Optional import of an upstream appkeys.json (vectors/README.md 6.4: k256_key,
   * k256_signature, ca_cert, key_provider.None.key): the app key, its KMS signature and the CA
   * replace the stored ones and are saved. The KMS root private key is then unknown; the root
   * public key is the one k256_signature recovers to over (app id, app public key). NULL = none. */
  const char *appkeys_path;
  /* Optional app id (20 bytes) replacing the stored one (and saved). With neither import nor
   * app_id, a new identity gets 20 random bytes. Without an import, the app key is re-derived
   * from the KMS root for this app id, as the KMS would. NULL = keep/make. */
  const uint8_t *app_id;
} th_simulator_opts;

th_simulator *th_simulator_open(const th_simulator_opts *opts, th_err *err);
void th_simulator_free(th_simulator *sim);

/* One RPC as on the wire (spec 1.4–1.6): method "POST"/"GET", path "/GetKey" or
 * "/prpc/Tappd.TdxQuote" or "/prpc/DeriveKey", query string without '?' (or NULL), the
 * Content-Type header (or NULL) and the body. Writes the HTTP status (200, 400 or 404) and a
 * malloc'd, NUL-terminated, ASCII-only JSON body (*resp, *resp_len; free()). Returns 0, or -1
 * only when out of memory. Errors are answered like the agent: 400 with a pretty-printed
 * {"error": "<message>"} body. A path that is not /<Method>, /prpc/<Method> or
 * /prpc/Tappd.<Method>, or an HTTP method other than GET/POST, is 404. The body is JSON whatever
 * content_type says (GET: the query string is the request). EmitEvent appends at most 4096
 * events (1 MiB of names and payloads) per process; beyond that it answers 400. */
int th_simulator_call(th_simulator *sim, const char *method, const char *path, const char *query,
                      const char *content_type, const char *body, size_t body_len, int *status,
                      char **resp, size_t *resp_len);

/* Serving on the loop: a Unix socket (mode 0600; never /var/run/dstack.sock unless the caller
 * passes it) and/or a TCP port on 127.0.0.1 (port -1 = none, 0 = any free port). Both APIs on
 * every listener. Responses carry Content-Length and Content-Type: application/json. */
typedef struct th_simulator_server th_simulator_server;
th_simulator_server *th_simulator_serve(th_simulator *sim, uv_loop_t *loop,
                                        const char *unix_socket, int port, th_err *err);
int th_simulator_server_port(const th_simulator_server *srv);
/* Stops listening and frees the server once libuv has closed its handles (run the loop). */
void th_simulator_server_close(th_simulator_server *srv);

/* Public facts, borrowed: the KMS root public key (33 bytes compressed), the app id (20 bytes),
 * the simulated Intel PKI (for attest's root = "simulator"). */
const uint8_t *th_simulator_kms_root(const th_simulator *sim);
const uint8_t *th_simulator_app_id(const th_simulator *sim);
th_sim_pki *th_simulator_pki(th_simulator *sim);

#endif
