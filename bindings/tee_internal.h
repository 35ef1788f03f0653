/* bindings/tee_internal.h — shared by the files of the Lua `tee` module: tee.c (the endpoint and
 * the calls), tee_key.c (the Key userdata), tee_sim.c (serving the simulator, its daemon).
 *
 * One tee_state per host, a userdata in the registry (freed by its __gc at lua_close): the
 * selected endpoint, the client (core/dstack, riding the host's HTTP client, so the state is a
 * tracked resource closed before that client), the in-process simulator (opened on first use,
 * also what `tee.simulator_serve` serves), and the app id learnt from Info for verify_chain. */
#ifndef TH_TEE_INTERNAL_H
#define TH_TEE_INTERNAL_H

#include <lua.h>

#include "dstack.h"
#include "host.h"
#include "keys.h"
#include "secret_pool.h"
#include "simulator.h"

#define TEE_KEY_MT "teehost.TeeKey"

typedef struct tee_state {
  th_resource res;
  int tracked;
  th_host *host;
  int selected;        /* ep is valid */
  th_tee_endpoint ep;
  th_dstack *client;   /* created on first call */
  th_simulator *sim;   /* opened on first use */
  uint8_t app_id[20];  /* from Info (or the built-in simulator) */
  int has_app_id;
  int inflight;        /* calls started and not yet released */
  int report;          /* print the endpoint line when the first call needs the client */
  th_secret_pool *keys; /* where Keys keep their secrets; created on first use */
} tee_state;

tee_state *tee_state_get(lua_State *L);

/* Selects the endpoint if not done yet (explicit = --tee or NULL). 0, or -1 with err. */
int tee_select(tee_state *st, const char *explicit_tee, th_err *err);

/* The in-process simulator under $TEEHOST_HOME/simulator, opened on first use. */
th_simulator *tee_simulator(tee_state *st, const th_simulator_opts *extra, th_err *err);

/* Pushes a Key userdata from a decoded GetKey reply; the secret is copied into sodium_malloc
 * memory (the caller wipes its copy). Returns 0, or -1 with err and nothing pushed. */
int tee_push_key(lua_State *L, const th_dstack_key *k, th_key_alg alg, const char *path,
                 size_t path_len, const char *purpose, size_t purpose_len, const uint8_t *app_id,
                 th_err *err);

/* The pool Keys take their secret slots from (NULL when out of locked memory). */
th_secret_pool *tee_secret_pool(tee_state *st);

/* Pushes lowercase hex of n bytes. */
void tee_push_hex(lua_State *L, const uint8_t *p, size_t n);

/* Reads a byte argument that may be raw bytes of exactly `raw_len` or hex text (optional 0x)
 * of any even length; writes at most cap bytes. Returns the length, or raises naming `what`. */
size_t tee_bytes_arg(lua_State *L, int idx, const char *fn, const char *what, size_t raw_len,
                     uint8_t *out, size_t cap);

/* The client of the selected endpoint, created on first use; NULL with err. */
th_dstack *tee_client(tee_state *st, th_err *err);

/* A cJSON value as Lua (objects/arrays as tables, arrays marked with json.array_mt, null as nil). */
void tee_push_cjson(lua_State *L, const cJSON *v);

int tee_open_key(lua_State *L); /* registers the Key metatable */
void tee_open_calls(lua_State *L); /* adds the calls to the table on top */
int tee_open_sim(lua_State *L); /* adds tee.simulator_* to the table on top */

/* The 32 secret bytes of the live Key at idx (borrowed: valid while the Key is open); raises
 * when idx is not a Key or the Key is closed. For modules that seal with a TEE key (store). */
const uint8_t *tee_key_secret(lua_State *L, int idx);

#endif
