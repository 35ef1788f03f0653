/* bindings/attest.c — the Lua `attest` module: attest.parse, attest.verify, attest.collateral,
 * attest.replay, attest.check_event_log (and attest.simulator_*, attest_sim.c).
 *
 * attest.verify is synchronous when the collateral is given (or simulated) and waits on the loop
 * when it must be fetched from a PCCS. Expected failures (bad quote, failed check, offline)
 * return nil, message, code; the message starts with the failed check ("quote signature: …"). */
#include <lauxlib.h>
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest_internal.h"
#include "eventlog.h"
#include "hex.h"
#include "modules.h"
#include "pck.h"
#include "scheduler.h"

#define STATE_KEY "teehost.attest.state"
#define DEFAULT_PCCS "https://pccs.phala.network"

/* ---- per-host state ---- */

static void close_pccs(attest_state *st);

struct fetch_op {
  th_wait wait;
  attest_state *st;
  uint8_t *bytes; /* the quote, owned */
  th_quote q;
  th_verify_opts opts;
  X509 *own_root; /* a root given by the script, owned */
  th_collateral *col;
  th_err err;
  int done;
  int abandoned;  /* on st->abandoned: its coroutine went away, fetch_done frees it */
  int fetch_only; /* attest.fetch_collateral: deliver the collateral, do not verify */
  fetch_op *next; /* st->abandoned */
};

static void fetch_op_free(fetch_op *op) {
  th_collateral_unref(op->col);
  X509_free(op->own_root);
  free(op->bytes);
  free(op);
}

static void state_resource_close(th_resource *r) {
  attest_state *st = (attest_state *)r;
  close_pccs(st);
}

static void close_pccs(attest_state *st) {
  for (int i = 0; i < ATTEST_PCCS_SLOTS; i++) {
    th_pccs_free(st->pccs[i].pccs); /* cancels fetches: their callbacks will not run */
    free(st->pccs[i].url);
    st->pccs[i].pccs = NULL;
    st->pccs[i].url = NULL;
  }
  while (st->abandoned) {
    fetch_op *op = st->abandoned;
    st->abandoned = op->next;
    fetch_op_free(op);
  }
  if (st->tracked) th_host_untrack(st->host, &st->res);
  st->tracked = 0;
}

static int state_gc(lua_State *L) {
  attest_state *st = luaL_checkudata(L, 1, "teehost.AttestState");
  close_pccs(st);
  for (int i = 0; i < ATTEST_CACHE_SLOTS; i++) th_collateral_unref(st->cache[i].col);
  memset(st->cache, 0, sizeof st->cache);
  th_collateral_unref(st->sim_collateral);
  st->sim_collateral = NULL;
  th_sim_pki_free(st->sim);
  st->sim = NULL;
  X509_free(st->intel_root);
  st->intel_root = NULL;
  th_x509_cache_free(st->certs);
  st->certs = NULL;
  return 0;
}

attest_state *attest_state_get(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TUSERDATA) {
    attest_state *st = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return st;
  }
  lua_pop(L, 1);
  attest_state *st = lua_newuserdatauv(L, sizeof *st, 0);
  memset(st, 0, sizeof *st);
  st->host = th_host_of(L);
  st->res.close = state_resource_close;
  st->certs = th_x509_cache_new(32); /* NULL (out of memory) only means no cache */
  if (luaL_newmetatable(L, "teehost.AttestState")) {
    lua_pushcfunction(L, state_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
  return st;
}

static X509 *intel_root(attest_state *st, th_err *err) {
  if (!st->intel_root)
    st->intel_root = th_x509_from_der(TH_INTEL_ROOT_CA_DER, TH_INTEL_ROOT_CA_DER_LEN,
                                      "Intel SGX Root CA", err);
  return st->intel_root;
}

static th_pccs *pccs_for(attest_state *st, const char *url, th_err *err) {
  int free_slot = -1;
  for (int i = 0; i < ATTEST_PCCS_SLOTS; i++) {
    if (st->pccs[i].url && strcmp(st->pccs[i].url, url) == 0) return st->pccs[i].pccs;
    if (!st->pccs[i].url && free_slot < 0) free_slot = i;
  }
  if (free_slot < 0) { /* all slots used: drop the first (its cache goes with it) */
    th_pccs_free(st->pccs[0].pccs);
    free(st->pccs[0].url);
    free_slot = 0;
  }
  th_http_client *http = th_host_http(st->host, err);
  th_pccs *p = http ? th_pccs_new(th_loop_uv(st->host->loop), http, url, err) : NULL;
  char *copy = p ? strdup(url) : NULL;
  if (p && !copy) {
    th_pccs_free(p);
    p = NULL;
    th_err_set(err, TH_ENOMEM, "out of memory");
  }
  st->pccs[free_slot].pccs = p;
  st->pccs[free_slot].url = copy;
  if (p && !st->tracked) {
    th_host_track(st->host, &st->res);
    st->tracked = 1;
  }
  return p;
}

/* ---- arguments ---- */

uint8_t *attest_quote_bytes(lua_State *L, int idx, size_t *len, th_err *err) {
  size_t n;
  const char *s = luaL_checklstring(L, idx, &n);
  uint8_t *out = NULL;
  if (th_bytes_from_text((const uint8_t *)s, n, &out, len, err) != 0) return NULL;
  return out;
}

/* A parsed collateral for a JSON text, from the per-host cache when the same text was seen. */
static th_collateral *collateral_from_text(attest_state *st, const char *json, size_t len,
                                           th_err *err) {
  uint8_t sha[32];
  SHA256((const uint8_t *)json, len, sha);
  for (int i = 0; i < ATTEST_CACHE_SLOTS; i++)
    if (st->cache[i].col && memcmp(st->cache[i].sha, sha, 32) == 0)
      return th_collateral_ref(st->cache[i].col);
  th_collateral *c = th_collateral_parse_cached(json, len, st->certs, err);
  if (!c) return NULL;
  int slot = st->cache_next;
  st->cache_next = (slot + 1) % ATTEST_CACHE_SLOTS;
  th_collateral_unref(st->cache[slot].col);
  st->cache[slot].col = th_collateral_ref(c);
  memcpy(st->cache[slot].sha, sha, 32);
  return c;
}

/* opts.collateral: a Collateral object or a JSON string; NULL when absent. */
static th_collateral *collateral_arg(lua_State *L, attest_state *st, int idx, th_err *err,
                                     int *given) {
  *given = 1;
  th_collateral **ud = luaL_testudata(L, idx, COLLATERAL_MT);
  if (ud) return th_collateral_ref(*ud); /* checked open by check_verify_args */
  if (lua_type(L, idx) == LUA_TSTRING) {
    size_t n;
    const char *s = lua_tolstring(L, idx, &n);
    return collateral_from_text(st, s, n, err);
  }
  *given = 0;
  return NULL;
}

/* opts.root: nil/"intel", "simulator", or a certificate (DER or PEM bytes). */
static X509 *root_arg(lua_State *L, attest_state *st, int idx, X509 **owned, int *simulator,
                      th_err *err) {
  *simulator = 0;
  *owned = NULL;
  if (lua_isnil(L, idx)) return intel_root(st, err);
  size_t n;
  const char *s = lua_tolstring(L, idx, &n);
  if (strcmp(s, "intel") == 0) return intel_root(st, err);
  if (strcmp(s, "simulator") == 0) {
    *simulator = 1;
    th_sim_pki *pki = attest_sim_pki(L, st, err);
    return pki ? th_sim_pki_root(pki) : NULL;
  }
  if (n > 10 && memcmp(s, "-----BEGIN", 10) == 0) {
    STACK_OF(X509) *chain = th_pem_chain_parse(s, n, "root", err);
    if (!chain) return NULL;
    *owned = sk_X509_shift(chain);
    sk_X509_pop_free(chain, X509_free);
    return *owned;
  }
  return *owned = th_x509_from_der((const uint8_t *)s, n, "root", err);
}

static const char *const verify_options[] = {
    "collateral", "root", "pccs", "now", "allow_debug", "allow_service_td", NULL};

/* ---- attest.parse ---- */

static int l_parse(lua_State *L) {
  th_err err = {0};
  size_t len;
  uint8_t *bytes = attest_quote_bytes(L, 1, &len, &err);
  if (!bytes) return th_push_failure(L, &err);
  uint8_t *copy = lua_newuserdatauv(L, len ? len : 1, 0); /* owned by Lua: no leak on error */
  memcpy(copy, bytes, len);
  free(bytes);
  th_quote q;
  if (th_quote_parse(&q, copy, len, &err) != 0) return th_push_failure(L, &err);
  attest_push_quote(L, &q);
  return 1;
}

/* ---- attest.verify ---- */

static int finish_verify(lua_State *L, fetch_op *op) {
  th_verify_result r;
  th_err err = {0};
  if (th_verify_quote(&op->q, op->col, &op->opts, &r, &err) != 0) return th_push_failure(L, &err);
  attest_push_result(L, &op->q, &r);
  th_verify_result_clear(&r);
  return 1;
}

static void push_collateral(lua_State *L, th_collateral *c);

static int fetch_push(lua_State *co, th_wait *w) {
  fetch_op *op = (fetch_op *)w;
  if (!op->col) return th_push_failure(co, &op->err);
  if (op->fetch_only) {
    push_collateral(co, th_collateral_ref(op->col));
    return 1;
  }
  return finish_verify(co, op);
}

static void fetch_release(th_wait *w, int in_flight) {
  fetch_op *op = (fetch_op *)w;
  if (in_flight && !op->done) { /* the PCCS callback will still come: let it free the op */
    op->abandoned = 1;
    op->next = op->st->abandoned;
    op->st->abandoned = op;
    return;
  }
  fetch_op_free(op);
}

static void unlink_abandoned(attest_state *st, fetch_op *op) {
  for (fetch_op **p = &st->abandoned; *p; p = &(*p)->next)
    if (*p == op) {
      *p = op->next;
      return;
    }
}

static void fetch_done(void *ud, th_collateral *col, const th_err *err) {
  fetch_op *op = ud;
  op->done = 1;
  op->col = col;
  if (err) op->err = *err;
  if (op->abandoned) {
    unlink_abandoned(op->st, op);
    fetch_op_free(op);
    return;
  }
  th_wait_ready(&op->wait);
}

/* Starts fetching the quote's collateral from the PCCS at url (NULL: $PCCS_URL, else Phala's);
 * fetch_done delivers it. */
static int start_fetch(fetch_op *op, const char *url, th_err *err) {
  if (!url) url = getenv("PCCS_URL");
  if (!url || !*url) url = DEFAULT_PCCS;
  th_pccs *p = pccs_for(op->st, url, err);
  return p ? th_pccs_fetch(p, &op->q, op->opts.now, fetch_done, op, err) : -1;
}

/* An op whose wait is ready to yield on (or to be freed with fetch_op_free). Raises only when
 * out of memory, before anything else is held. */
static fetch_op *new_op(lua_State *L, attest_state *st, const char *what) {
  fetch_op *op = calloc(1, sizeof *op);
  if (!op) luaL_error(L, "%s: out of memory", what);
  op->wait.what = what;
  op->wait.push = fetch_push;
  op->wait.release = fetch_release;
  op->st = st;
  return op;
}

/* Raises on misuse before anything is allocated, so no error can leak an op. Returns whether
 * the collateral must be fetched (not given, root not "simulator"). */
static int check_verify_args(lua_State *L) {
  luaL_checkstring(L, 1);
  luaL_checktype(L, 2, LUA_TTABLE);
  th_check_options(L, 2, "attest.verify", verify_options);
  if (!lua_isnil(L, 3) && !lua_isinteger(L, 3))
    luaL_error(L, "attest.verify: now must be an integer (unix seconds)");
  luaL_argexpected(L, lua_isnil(L, 6) || lua_type(L, 6) == LUA_TSTRING, 2, "root: nil or string");
  th_collateral **ud = luaL_testudata(L, 7, COLLATERAL_MT);
  if (ud && !*ud) luaL_error(L, "attest.verify: the collateral object is closed");
  if (!ud && !lua_isnil(L, 7) && lua_type(L, 7) != LUA_TSTRING)
    luaL_error(L, "attest.verify: collateral must be a JSON string or an attest.collateral object");
  luaL_argexpected(L, lua_isnil(L, 8) || lua_type(L, 8) == LUA_TSTRING, 2, "pccs: nil or URL");
  int simulator = lua_type(L, 6) == LUA_TSTRING && strcmp(lua_tostring(L, 6), "simulator") == 0;
  return lua_isnil(L, 7) && !simulator;
}

static int l_verify(lua_State *L) {
  if (lua_isnoneornil(L, 2)) {
    lua_settop(L, 1);
    lua_newtable(L);
  }
  lua_settop(L, 2);
  lua_getfield(L, 2, "now");
  lua_getfield(L, 2, "allow_debug");
  lua_getfield(L, 2, "allow_service_td");
  lua_getfield(L, 2, "root");       /* 6 */
  lua_getfield(L, 2, "collateral"); /* 7 */
  lua_getfield(L, 2, "pccs");       /* 8 */
  int must_fetch = check_verify_args(L);
  if (must_fetch) th_wait_check(L, "attest.verify");
  attest_state *st = attest_state_get(L);
  fetch_op *op = new_op(L, st, "attest.verify");
  op->opts.now = lua_isnil(L, 3) ? (int64_t)time(NULL) : (int64_t)lua_tointeger(L, 3);
  op->opts.allow_debug = lua_toboolean(L, 4);
  op->opts.allow_service_td = lua_toboolean(L, 5);
  op->opts.cache = st->certs;
  th_err err = {0};
  int simulator, given;
  size_t len;
  if (!(op->bytes = attest_quote_bytes(L, 1, &len, &err)) ||
      th_quote_parse(&op->q, op->bytes, len, &err) != 0 ||
      !(op->opts.root = root_arg(L, st, 6, &op->own_root, &simulator, &err)))
    goto failed;
  op->col = collateral_arg(L, st, 7, &err, &given);
  if (given && !op->col) goto failed;
  if (!given && simulator) {
    if (!(op->col = attest_sim_collateral(L, st, op->opts.now, &err))) goto failed;
    th_collateral_ref(op->col);
  }
  if (op->col) { /* everything at hand: verify now */
    int n = finish_verify(L, op);
    fetch_op_free(op);
    return n;
  }
  if (start_fetch(op, lua_tostring(L, 8), &err) != 0) goto failed;
  return th_wait_yield(L, &op->wait);
failed:
  fetch_op_free(op);
  return th_push_failure(L, &err);
}

/* attest.fetch_collateral(quote, {pccs=, now=}) -> Collateral, from the PCCS (cached). */
static int l_fetch_collateral(lua_State *L) {
  luaL_checkstring(L, 1);
  lua_settop(L, 2);
  const char *url = NULL;
  lua_Integer now = (lua_Integer)time(NULL);
  if (!lua_isnil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_getfield(L, 2, "pccs");
    url = luaL_optstring(L, -1, NULL);
    lua_getfield(L, 2, "now");
    now = luaL_optinteger(L, -1, now);
  }
  th_wait_check(L, "attest.fetch_collateral");
  attest_state *st = attest_state_get(L);
  fetch_op *op = new_op(L, st, "attest.fetch_collateral");
  op->fetch_only = 1;
  op->opts.now = (int64_t)now;
  th_err err = {0};
  size_t len;
  if (!(op->bytes = attest_quote_bytes(L, 1, &len, &err)) ||
      th_quote_parse(&op->q, op->bytes, len, &err) != 0 || start_fetch(op, url, &err) != 0) {
    fetch_op_free(op);
    return th_push_failure(L, &err);
  }
  return th_wait_yield(L, &op->wait);
}

/* ---- collateral objects ---- */

/* Pushes a Collateral object owning the reference c. */
static void push_collateral(lua_State *L, th_collateral *c) {
  th_collateral **ud = lua_newuserdatauv(L, sizeof *ud, 0);
  *ud = c;
  luaL_setmetatable(L, COLLATERAL_MT);
}

static int l_collateral(lua_State *L) {
  size_t n;
  const char *s = luaL_checklstring(L, 1, &n);
  th_err err = {0};
  th_collateral **ud = lua_newuserdatauv(L, sizeof *ud, 0);
  *ud = NULL;
  luaL_setmetatable(L, COLLATERAL_MT);
  if (!(*ud = collateral_from_text(attest_state_get(L), s, n, &err))) return th_push_failure(L, &err);
  return 1;
}

static th_collateral *check_collateral(lua_State *L) {
  th_collateral **ud = luaL_checkudata(L, 1, COLLATERAL_MT);
  if (!*ud) luaL_error(L, "attempt to use a closed collateral");
  return *ud;
}

static int collateral_gc(lua_State *L) {
  th_collateral **ud = luaL_checkudata(L, 1, COLLATERAL_MT);
  th_collateral_unref(*ud);
  *ud = NULL;
  return 0;
}

static int collateral_json(lua_State *L) {
  th_collateral *c = check_collateral(L);
  th_err err = {0};
  size_t len;
  char *json = th_collateral_to_json(c, &len, &err);
  if (!json) return th_push_failure(L, &err);
  lua_pushlstring(L, json, len);
  free(json);
  return 1;
}

static int collateral_index(lua_State *L) {
  th_collateral *c = check_collateral(L);
  const char *k = luaL_checkstring(L, 2);
  const th_tcb_info *t = &c->tcb_info;
  if (strcmp(k, "fmspc") == 0) attest_push_hex(L, t->fmspc, 6);
  else if (strcmp(k, "tee") == 0) lua_pushstring(L, t->id);
  else if (strcmp(k, "tcb_evaluation_data_number") == 0) lua_pushinteger(L, t->tcb_evaluation_data_number);
  else if (strcmp(k, "issue_date") == 0) lua_pushinteger(L, t->issue_date);
  else if (strcmp(k, "next_update") == 0) lua_pushinteger(L, t->next_update);
  else if (strcmp(k, "tcb_info") == 0) lua_pushlstring(L, c->tcb_info_json, c->tcb_info_len);
  else if (strcmp(k, "qe_identity") == 0) lua_pushlstring(L, c->qe_identity_json, c->qe_identity_len);
  else if (strcmp(k, "json") == 0) lua_pushcfunction(L, collateral_json);
  else lua_pushnil(L);
  return 1;
}

static int collateral_tostring(lua_State *L) {
  th_collateral **ud = luaL_checkudata(L, 1, COLLATERAL_MT);
  if (!*ud) {
    lua_pushliteral(L, "attest.Collateral<closed>");
    return 1;
  }
  char fmspc[13];
  th_hex_encode((*ud)->tcb_info.fmspc, 6, fmspc);
  char date[24];
  th_rfc3339_format((*ud)->tcb_info.next_update, date);
  lua_pushfstring(L, "attest.Collateral<%s fmspc %s, next update %s>", (*ud)->tcb_info.id, fmspc,
                  date);
  return 1;
}

/* ---- event logs ---- */

/* The event log argument as JSON text: a string, or a table encoded with json.encode. */
static const char *event_log_text(lua_State *L, int idx, size_t *len) {
  if (lua_type(L, idx) == LUA_TTABLE) {
    lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L, -1, "json");
    lua_getfield(L, -1, "encode");
    lua_pushvalue(L, idx);
    lua_call(L, 1, 1);
    lua_replace(L, idx);
    lua_pop(L, 2);
  }
  return luaL_checklstring(L, idx, len);
}

static void push_rtmrs(lua_State *L, uint8_t rtmr[4][48]) {
  lua_createtable(L, 0, 4);
  static const char *const names[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
  for (int i = 0; i < 4; i++) {
    attest_push_hex(L, rtmr[i], 48);
    lua_setfield(L, -2, names[i]);
  }
}

static int l_replay(lua_State *L) {
  size_t len;
  const char *json = event_log_text(L, 1, &len);
  th_eventlog log;
  th_err err = {0};
  if (th_eventlog_parse(json, len, &log, &err) != 0) return th_push_failure(L, &err);
  uint8_t rtmr[4][48];
  th_eventlog_replay(&log, rtmr);
  th_eventlog_free(&log);
  push_rtmrs(L, rtmr);
  return 1;
}

static int l_check_event_log(lua_State *L) {
  th_err err = {0};
  size_t qlen, len;
  uint8_t *bytes = attest_quote_bytes(L, 1, &qlen, &err);
  if (!bytes) return th_push_failure(L, &err);
  th_quote q;
  th_eventlog log = {0};
  int rc = th_quote_parse(&q, bytes, qlen, &err);
  if (rc == 0 && q.body_type == TH_BODY_SGX)
    rc = th_err_set(&err, TH_EINVAL, "event log: an SGX quote has no RTMRs");
  uint8_t quote_rtmr[4][48];
  if (rc == 0) memcpy(quote_rtmr, q.td.rtmr, sizeof quote_rtmr);
  free(bytes);
  if (rc != 0) return th_push_failure(L, &err);
  const char *json = event_log_text(L, 2, &len);
  if (th_eventlog_parse(json, len, &log, &err) != 0) return th_push_failure(L, &err);
  rc = th_eventlog_check(&log, (const uint8_t(*)[48])quote_rtmr, &err);
  th_eventlog_free(&log);
  if (rc != 0) return th_push_failure(L, &err);
  lua_pushboolean(L, 1);
  return 1;
}

int luaopen_attest(lua_State *L) {
  static const luaL_Reg collateral_methods[] = {
      {"__gc", collateral_gc},       {"__close", collateral_gc},
      {"__index", collateral_index}, {"__tostring", collateral_tostring},
      {NULL, NULL},
  };
  luaL_newmetatable(L, COLLATERAL_MT);
  luaL_setfuncs(L, collateral_methods, 0);
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {
      {"parse", l_parse},
      {"verify", l_verify},
      {"collateral", l_collateral},
      {"fetch_collateral", l_fetch_collateral},
      {"replay", l_replay},
      {"check_event_log", l_check_event_log},
      {NULL, NULL},
  };
  luaL_newlib(L, fns);
  attest_sim_open(L);
  return 1;
}
