/* bindings/attest_internal.h — shared by the files of the Lua `attest` module (attest.c: parse,
 * verify, event logs, collateral objects; attest_push.c: C structs to Lua tables; attest_sim.c:
 * the simulated PKI and quote generator).
 *
 * One attest_state per host, a userdata in the registry (freed by its __gc at lua_close): the
 * parsed Intel root, the simulator PKI (opened on first use), PCCS clients per URL, and a small
 * cache of parsed collateral keyed by the SHA-256 of its JSON text, so verifying many quotes of
 * one platform parses the collateral once. PCCS clients ride the host's HTTP client, so they are
 * a tracked resource closed before it. */
#ifndef TH_ATTEST_INTERNAL_H
#define TH_ATTEST_INTERNAL_H

#include <lua.h>
#include <openssl/x509.h>

#include "collateral.h"
#include "host.h"
#include "pccs.h"
#include "quote.h"
#include "sim_pki.h"
#include "verify.h"
#include "x509_cache.h"

#define COLLATERAL_MT "teehost.Collateral"
#define ATTEST_CACHE_SLOTS 8
#define ATTEST_PCCS_SLOTS 4

typedef struct fetch_op fetch_op;

typedef struct attest_state {
  th_resource res;
  int tracked;
  th_host *host;
  X509 *intel_root;
  th_x509_cache *certs; /* decoded certificates shared by every collateral and quote */
  th_sim_pki *sim;
  struct {
    char *url;
    th_pccs *pccs;
  } pccs[ATTEST_PCCS_SLOTS];
  struct {
    uint8_t sha[32];
    th_collateral *col;
  } cache[ATTEST_CACHE_SLOTS];
  int cache_next;
  th_collateral *sim_collateral; /* generated for sim_collateral_day */
  int64_t sim_collateral_day;
  fetch_op *abandoned; /* fetches whose coroutine went away; freed when they finish or at close */
} attest_state;

attest_state *attest_state_get(lua_State *L);

/* The simulator PKI under $TEEHOST_HOME/simulator/dcap, opened on first use; NULL + err. */
th_sim_pki *attest_sim_pki(lua_State *L, attest_state *st, th_err *err);
/* Simulated collateral valid around `now` (regenerated per day); borrowed. */
th_collateral *attest_sim_collateral(lua_State *L, attest_state *st, int64_t now, th_err *err);

/* Quote bytes from a Lua string (binary or hex text) at idx: a malloc'd copy (free()), or NULL
 * with err. */
uint8_t *attest_quote_bytes(lua_State *L, int idx, size_t *len, th_err *err);

/* Pushes lowercase hex of n bytes. */
void attest_push_hex(lua_State *L, const uint8_t *p, size_t n);
/* Pushes the parsed quote as a table (attest.parse). */
void attest_push_quote(lua_State *L, const th_quote *q);
/* Pushes a successful verification result; the quote's fields go under `report`. */
void attest_push_result(lua_State *L, const th_quote *q, const th_verify_result *r);
/* Sets json.array_mt on the table at the top of the stack (so [] encodes as an array). */
void attest_mark_array(lua_State *L);

int attest_sim_open(lua_State *L); /* adds attest.simulator_* functions to the table on top */

#endif
