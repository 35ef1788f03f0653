/* core/simulator_internal.h — what the simulator_*.c files share: the th_simulator object, the
 * output buffer that writes ASCII-only JSON, the decoded request, and each file's entry points.
 * Not for other modules (the unit tests include it for nothing; they use simulator.h).
 *
 * Files: simulator.c (open/free, accessors), simulator_state.c (identity.json, appkeys import),
 * simulator_boot.c (MRTD and RTMR0–2 boot events from the upstream fixture), simulator_events.c
 * (runtime event log, RTMRs, cached JSON, quotes), simulator_buf.c (JSON output),
 * simulator_request.c (JSON / query-string request decoding, spec 1.5), simulator_rpc.c
 * (routing and dispatch, spec 1.4), simulator_keys_rpc.c (GetKey, Sign, Verify, EmitEvent, …),
 * simulator_quote.c (GetQuote, Attest, TdxQuote, RawQuote), simulator_tls.c (GetTlsKey,
 * DeriveKey, the demo certificate), simulator_info.c (Info, derived measurements),
 * simulator_serve.c (HTTP on the loop). */
#ifndef TH_SIMULATOR_INTERNAL_H
#define TH_SIMULATOR_INTERNAL_H

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <stddef.h>
#include <stdint.h>

#include "error.h"
#include "eventlog.h"
#include "sim_pki.h"
#include "simulator.h"

/* ---- boot measurements (simulator_boot.c, generated) ---- */
#define TH_SIM_BOOT_EVENTS 24
typedef struct th_sim_boot_event {
  uint32_t imr;
  uint32_t event_type;
  uint8_t digest[48];
} th_sim_boot_event;
extern const uint8_t th_sim_boot_mrtd[48];
extern const th_sim_boot_event th_sim_boot_events[TH_SIM_BOOT_EVENTS];

/* Limits on what EmitEvent may add (a simulator must not grow without bound). */
#define TH_SIM_MAX_APP_EVENTS 4096
#define TH_SIM_MAX_EVENT_BYTES (1u << 20) /* names + payloads of all app events together */

/* Layout of the sodium_malloc'd secret block. */
enum {
  TH_SIM_KMS_ROOT = 0,
  TH_SIM_APP_KEY = 32,
  TH_SIM_INSTANCE_SEED = 64,
  TH_SIM_SECRET_SIZE = 84
};

struct th_simulator {
  th_sim_pki *pki;
  /* identity (simulator_state.c) */
  uint8_t *secret;  /* TH_SIM_SECRET_SIZE bytes, sodium_malloc */
  int has_kms_root; /* 0 after an appkeys import: only the root's public key is known */
  uint8_t kms_root_pub[33], app_id[20], app_pub[33], k256_sig[65];
  EVP_PKEY *ca_key;
  X509 *ca_cert;
  char *ca_key_pem, *ca_cert_pem; /* the key's PEM is wiped before it is freed */
  char *app_compose;              /* the app-compose.json text, hashed as is */
  size_t app_compose_len;
  /* facts derived at open (simulator_info.c) */
  char *app_name;
  uint8_t compose_hash[32], instance_id[20], device_id[32], os_image_hash[32];
  char *key_provider_info, *vm_config, *sys_config;
  char *app_cert; /* the demo chain Info reports */
  /* event log (simulator_events.c) */
  th_eventlog log;
  size_t log_cap, app_events, app_event_bytes;
  uint8_t rtmr[4][48];
  th_sim_td td; /* the quote template: MRTD, MRCONFIGID; RTMRs and REPORTDATA set per quote */
  unsigned gen; /* bumped by every EmitEvent; caches below remember the gen they were made at */
  char *log_json, *log_json_str; /* compact JSON array, and the same as a quoted JSON string */
  size_t log_json_len, log_json_str_len;
  unsigned log_gen;
  char *info_resp;
  size_t info_len;
  unsigned info_gen;
  int caches_valid; /* 0 until the first build */
  struct th_sim_key_slot *key_cache; /* GetKey results by (algorithm, path, purpose); sodium_malloc */
};

/* ---- JSON output (simulator_buf.c) ---- */
typedef struct th_sbuf {
  char *p;
  size_t len, cap;
  int oom; /* an append failed: the buffer is unusable */
} th_sbuf;
void th_sbuf_raw(th_sbuf *b, const char *s, size_t n);
void th_sbuf_cstr(th_sbuf *b, const char *s);
/* A quoted JSON string of s[0, n), ASCII only: non-ASCII as \uXXXX (surrogate pairs above
 * U+FFFF), controls as \b \f \n \r \t or \u00XX, invalid UTF-8 bytes as \ufffd. */
void th_sbuf_jstr(th_sbuf *b, const char *s, size_t n);
void th_sbuf_jcstr(th_sbuf *b, const char *s);
void th_sbuf_hex(th_sbuf *b, const uint8_t *p, size_t n); /* quoted lowercase hex */
/* One member of a pretty-printed object (two-space indent, not the last): `  "name": "hex",\n`. */
void th_sbuf_pretty_hex(th_sbuf *b, const char *name, const uint8_t *p, size_t n);
void th_sbuf_u64(th_sbuf *b, uint64_t v);
/* Hands the NUL-terminated text to the caller (or NULL after oom); the buffer is reset. */
char *th_sbuf_take(th_sbuf *b, size_t *len);
void th_sbuf_free(th_sbuf *b);

/* ---- requests (simulator_request.c) ---- */
typedef enum th_sim_ftype { TH_F_STR, TH_F_BOOL, TH_F_OPT_U64, TH_F_BYTES, TH_F_STRS } th_sim_ftype;
typedef struct th_sim_field {
  const char *name;
  th_sim_ftype type;
  size_t off; /* of the value in th_sim_req */
} th_sim_field;

typedef struct th_sim_bytes {
  uint8_t *p; /* malloc'd, NULL when empty */
  size_t n;
} th_sim_bytes;
typedef struct th_sim_opt_u64 {
  int set;
  uint64_t v;
} th_sim_opt_u64;
typedef struct th_sim_strs {
  const char **v; /* malloc'd array of borrowed strings */
  size_t n;
} th_sim_strs;

/* Every request message of both services folded into one struct; each method reads its fields.
 * Strings are borrowed from the parsed tree (or static ""), valid until th_sim_req_free. */
typedef struct th_sim_req {
  const char *path, *purpose, *algorithm, *subject, *hash_algorithm, *prefix, *event;
  th_sim_bytes report_data, data, signature, public_key, payload;
  th_sim_strs alt_names;
  int usage_ra_tls, usage_server_auth, usage_client_auth, with_app_info, random_seed;
  th_sim_opt_u64 not_before, not_after;
  void *tree; /* cJSON */
} th_sim_req;

/* Decodes a JSON body (len 0 = defaults) or, with query != NULL, a GET query string, into req
 * for the given fields (NULL-terminated by name). Errors are the 400 messages. */
int th_sim_req_json(const th_sim_field *fields, const char *body, size_t len, th_sim_req *req,
                    th_err *err);
int th_sim_req_query(const th_sim_field *fields, const char *query, th_sim_req *req, th_err *err);
void th_sim_req_free(th_sim_req *req);

/* ---- methods ---- */
typedef int (*th_sim_handler)(th_simulator *sim, const th_sim_req *req, th_sbuf *out, th_err *err);
typedef struct th_sim_method {
  const char *name;
  const th_sim_field *fields; /* NULL: takes Empty, the body is ignored */
  th_sim_handler fn;
} th_sim_method;

int th_sim_get_key(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_derive_k256_key(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_sign(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_verify(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_emit_event(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_version(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_gpu_info(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_get_quote(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_attest(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_tdx_quote(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_raw_quote(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_get_tls_key(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_derive_key(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);
int th_sim_info(th_simulator *, const th_sim_req *, th_sbuf *, th_err *);

/* ---- state (simulator_state.c) ---- */
/* Loads dir/identity.json or makes it (opts->reset, missing), applies opts' import/app id. */
int th_sim_state_load(th_simulator *sim, const th_simulator_opts *opts, th_err *err);
void th_sim_state_free(th_simulator *sim);

/* ---- event log and quotes (simulator_events.c) ---- */
/* The boot log: boot events, then dstack's runtime events for this identity. */
int th_sim_events_init(th_simulator *sim, th_err *err);
int th_sim_events_emit(th_simulator *sim, const char *name, const uint8_t *payload, size_t len,
                       th_err *err);
/* Rebuilds log_json / log_json_str if an event was added since; -1 only when out of memory. */
int th_sim_events_json(th_simulator *sim, th_err *err);
/* A complete v4 quote over the current log with this REPORTDATA (*q malloc'd). */
int th_sim_make_quote(th_simulator *sim, const uint8_t report_data[64], uint8_t **q, size_t *n,
                      th_err *err);
/* Writes the event log as pretty JSON lines at the given indent (for tcb_info). */
void th_sim_events_pretty(const th_simulator *sim, th_sbuf *b, const char *indent);

/* ---- measurements (simulator_info.c) ---- */
int th_sim_info_init(th_simulator *sim, th_err *err); /* app_name, compose hash, vm_config… */
void th_sim_mr_aggregated(const th_simulator *sim, uint8_t out[32]);
void th_sim_mr_system(const th_simulator *sim, uint8_t out[32]);

/* ---- certificates (simulator_tls.c) ---- */
int th_sim_demo_cert(th_simulator *sim, th_err *err); /* fills sim->app_cert */

/* ---- small helpers ---- */
#define TH_SIM_OOM_MESSAGE "simulator: out of memory"
int th_sim_oom(th_err *err); /* TH_ENOMEM TH_SIM_OOM_MESSAGE */
/* Empty bytes fields are NULL in th_sim_req; library calls get a valid pointer anyway. */
static inline const uint8_t *th_sim_ptr(const th_sim_bytes *b) {
  return b->p ? b->p : (const uint8_t *)"";
}

#endif
