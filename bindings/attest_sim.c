/* bindings/attest_sim.c — the simulator side of `attest`: the simulated DCAP PKI kept under
 * $TEEHOST_HOME/simulator/dcap (core/sim_pki), its collateral, and quotes built on it.
 *   attest.simulator_quote{mrtd=, rtmr0=…rtmr3=, reportdata=, mrconfigid=, mrowner=,
 *                          mrownerconfig=, tee_tcb_svn=, td_attributes=, version=4|5} -> bytes
 *   attest.simulator_collateral([now]) -> collateral JSON valid around now
 *   attest.simulator_root() -> root CA certificate (DER)
 * Byte fields are hex strings; reportdata may be shorter than 64 bytes (zero-padded, as dstack). */
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <sys/stat.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "attest_internal.h"
#include "hex.h"

#define DAY 86400

th_sim_pki *attest_sim_pki(lua_State *L, attest_state *st, th_err *err) {
  (void)L;
  if (st->sim) return st->sim;
  char home[4096], dir[4200];
  if (th_host_home(home, sizeof home, err) != 0) return NULL;
  snprintf(dir, sizeof dir, "%s/simulator", home);
  if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
    th_err_set(err, TH_EIO, "cannot create %s: %s", dir, strerror(errno));
    return NULL;
  }
  snprintf(dir, sizeof dir, "%s/simulator/dcap", home);
  return st->sim = th_sim_pki_open(dir, NULL, err);
}

th_collateral *attest_sim_collateral(lua_State *L, attest_state *st, int64_t now, th_err *err) {
  int64_t day = now / DAY;
  if (st->sim_collateral && st->sim_collateral_day == day) return st->sim_collateral;
  th_sim_pki *pki = attest_sim_pki(L, st, err);
  if (!pki) return NULL;
  size_t len;
  char *json = th_sim_pki_collateral_json(pki, day * DAY, 0, &len, err);
  th_collateral *c = json ? th_collateral_parse_cached(json, len, st->certs, err) : NULL;
  free(json);
  if (!c) return NULL;
  th_collateral_unref(st->sim_collateral);
  st->sim_collateral = c;
  st->sim_collateral_day = day;
  return c;
}

/* Reads opts[name] (hex) into out: exactly n bytes, or up to n and zero-padded when pad. */
static void hex_field(lua_State *L, const char *name, uint8_t *out, size_t n, int pad) {
  size_t len;
  lua_getfield(L, 1, name);
  const char *hex = lua_tolstring(L, -1, &len);
  if (!hex) {
    if (!lua_isnil(L, -1)) luaL_error(L, "attest.simulator_quote: %s must be a hex string", name);
    lua_pop(L, 1);
    return;
  }
  if (len >= 2 && hex[0] == '0' && (hex[1] == 'x' || hex[1] == 'X')) hex += 2, len -= 2;
  th_err err = {0};
  uint8_t buf[64] = {0};
  size_t want = pad ? len / 2 : n;
  if ((pad && (len > 2 * n || len % 2)) ||
      th_hex_decode_exact(hex, len, buf, want, name, &err) != 0)
    luaL_error(L, "attest.simulator_quote: %s must be %s%d bytes of hex", name,
               pad ? "at most " : "", (int)n);
  memset(out, 0, n);
  memcpy(out, buf, want);
  lua_pop(L, 1);
}

static int l_simulator_quote(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  th_sim_td td;
  th_sim_td_defaults(&td);
  hex_field(L, "mrtd", td.mrtd, 48, 0);
  hex_field(L, "mrconfigid", td.mrconfigid, 48, 0);
  hex_field(L, "mrowner", td.mrowner, 48, 0);
  hex_field(L, "mrownerconfig", td.mrownerconfig, 48, 0);
  static const char *const rtmr[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
  for (int i = 0; i < 4; i++) hex_field(L, rtmr[i], td.rtmr[i], 48, 0);
  hex_field(L, "reportdata", td.reportdata, 64, 1);
  hex_field(L, "tee_tcb_svn", td.tee_tcb_svn, 16, 0);
  hex_field(L, "td_attributes", td.td_attributes, 8, 0);
  lua_getfield(L, 1, "version");
  lua_Integer version = luaL_optinteger(L, -1, 4);
  if (version != 4 && version != 5) luaL_error(L, "attest.simulator_quote: version must be 4 or 5");
  th_err err = {0};
  th_sim_pki *pki = attest_sim_pki(L, attest_state_get(L), &err);
  uint8_t *quote = NULL;
  size_t len = 0;
  if (!pki || th_sim_pki_quote(pki, &td, (int)version, &quote, &len, &err) != 0)
    return th_push_failure(L, &err);
  lua_pushlstring(L, (const char *)quote, len);
  free(quote);
  return 1;
}

static int l_simulator_collateral(lua_State *L) {
  int64_t now = luaL_optinteger(L, 1, (lua_Integer)time(NULL));
  th_err err = {0};
  th_sim_pki *pki = attest_sim_pki(L, attest_state_get(L), &err);
  size_t len;
  char *json = pki ? th_sim_pki_collateral_json(pki, now, 0, &len, &err) : NULL;
  if (!json) return th_push_failure(L, &err);
  lua_pushlstring(L, json, len);
  free(json);
  return 1;
}

static int l_simulator_root(lua_State *L) {
  th_err err = {0};
  th_sim_pki *pki = attest_sim_pki(L, attest_state_get(L), &err);
  if (!pki) return th_push_failure(L, &err);
  size_t len;
  const uint8_t *der = th_sim_pki_root_der(pki, &len);
  lua_pushlstring(L, (const char *)der, len);
  return 1;
}

int attest_sim_open(lua_State *L) {
  static const luaL_Reg fns[] = {
      {"simulator_quote", l_simulator_quote},
      {"simulator_collateral", l_simulator_collateral},
      {"simulator_root", l_simulator_root},
      {NULL, NULL},
  };
  luaL_setfuncs(L, fns, 0);
  return 0;
}
