/* bindings/attest_push.c — converts parsed quotes and verification results into Lua tables, at
 * this one boundary. Byte fields become lowercase hex strings, as in dcap-qvl's JSON output. */
#include <lauxlib.h>
#include <string.h>

#include "attest_internal.h"
#include "hex.h"
#include "pck.h"

void attest_push_hex(lua_State *L, const uint8_t *p, size_t n) {
  luaL_Buffer b;
  char *out = luaL_buffinitsize(L, &b, 2 * n + 1);
  th_hex_encode(p, n, out);
  luaL_pushresultsize(&b, 2 * n);
}

void attest_mark_array(lua_State *L) {
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  if (lua_getfield(L, -1, "json") == LUA_TTABLE && lua_getfield(L, -1, "array_mt") == LUA_TTABLE) {
    lua_setmetatable(L, -4);
    lua_pop(L, 2);
  } else {
    lua_pop(L, 3);
  }
}

#define HEX_FIELD(name, ptr, n)  \
  do {                           \
    attest_push_hex(L, ptr, n);  \
    lua_setfield(L, -2, name);   \
  } while (0)
#define INT_FIELD(name, v)       \
  do {                           \
    lua_pushinteger(L, (lua_Integer)(v)); \
    lua_setfield(L, -2, name);   \
  } while (0)

static void push_sgx_report(lua_State *L, const th_sgx_report *r) {
  lua_createtable(L, 0, 14);
  HEX_FIELD("cpusvn", r->cpusvn, 16);
  INT_FIELD("miscselect", r->miscselect);
  HEX_FIELD("isvextprodid", r->isvextprodid, 16);
  HEX_FIELD("attributes", r->attributes, 16);
  HEX_FIELD("mrenclave", r->mrenclave, 32);
  HEX_FIELD("mrsigner", r->mrsigner, 32);
  HEX_FIELD("configid", r->configid, 64);
  INT_FIELD("isvprodid", r->isvprodid);
  INT_FIELD("isvsvn", r->isvsvn);
  INT_FIELD("configsvn", r->configsvn);
  HEX_FIELD("isvfamilyid", r->isvfamilyid, 16);
  HEX_FIELD("reportdata", r->reportdata, 64);
}

static void push_td_report(lua_State *L, const th_td_report *r, int td15) {
  lua_createtable(L, 0, 18);
  HEX_FIELD("tee_tcb_svn", r->tee_tcb_svn, 16);
  HEX_FIELD("mrseam", r->mrseam, 48);
  HEX_FIELD("mrsignerseam", r->mrsignerseam, 48);
  HEX_FIELD("seam_attributes", r->seam_attributes, 8);
  HEX_FIELD("td_attributes", r->td_attributes, 8);
  HEX_FIELD("xfam", r->xfam, 8);
  HEX_FIELD("mrtd", r->mrtd, 48);
  HEX_FIELD("mrconfigid", r->mrconfigid, 48);
  HEX_FIELD("mrowner", r->mrowner, 48);
  HEX_FIELD("mrownerconfig", r->mrownerconfig, 48);
  static const char *const rtmr[4] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
  for (int i = 0; i < 4; i++) HEX_FIELD(rtmr[i], r->rtmr[i], 48);
  HEX_FIELD("reportdata", r->reportdata, 64);
  if (td15) {
    HEX_FIELD("tee_tcb_svn2", r->tee_tcb_svn2, 16);
    HEX_FIELD("mrservicetd", r->mrservicetd, 48);
  }
}

static void push_report(lua_State *L, const th_quote *q) {
  if (q->body_type == TH_BODY_SGX)
    push_sgx_report(L, &q->sgx);
  else
    push_td_report(L, &q->td, q->body_type == TH_BODY_TD15);
}

static void push_pck(lua_State *L, const th_pck_ext *p) {
  lua_createtable(L, 0, 7);
  HEX_FIELD("fmspc", p->fmspc, 6);
  HEX_FIELD("ppid", p->ppid, 16);
  HEX_FIELD("cpusvn", p->cpusvn, 16);
  INT_FIELD("pcesvn", p->pcesvn);
  HEX_FIELD("pceid", p->pceid, 2);
  INT_FIELD("sgx_type", p->sgx_type);
}

/* The PCK leaf's SGX extension, when the quote carries a parsable PEM chain (else nothing). */
static void push_quote_pck(lua_State *L, const th_quote *q) {
  if (q->cert_type != TH_CERT_PCK_CHAIN) return;
  lua_pushlstring(L, (const char *)q->bytes + q->cert_offset,
                  q->cert_len && q->bytes[q->cert_offset + q->cert_len - 1] == 0 ? q->cert_len - 1
                                                                                  : q->cert_len);
  lua_setfield(L, -2, "pck_chain");
  th_err err = {0};
  STACK_OF(X509) *chain =
      th_pem_chain_parse((const char *)q->bytes + q->cert_offset, q->cert_len, "PCK chain", &err);
  th_pck_ext ext;
  if (chain && th_pck_ext_parse(sk_X509_value(chain, 0), &ext, &err) == 0) {
    push_pck(L, &ext);
    lua_pushstring(L, th_pck_ca_kind(sk_X509_value(chain, 0)));
    lua_setfield(L, -2, "ca");
    lua_setfield(L, -2, "pck");
  }
  if (chain) sk_X509_pop_free(chain, X509_free);
}

void attest_push_quote(lua_State *L, const th_quote *q) {
  lua_createtable(L, 0, 24);
  INT_FIELD("version", q->version);
  INT_FIELD("attestation_key_type", q->att_key_type);
  lua_pushstring(L, th_quote_tee_name(q));
  lua_setfield(L, -2, "tee");
  INT_FIELD("tee_type", q->tee_type);
  INT_FIELD("qe_svn", q->qe_svn);
  INT_FIELD("pce_svn", q->pce_svn);
  HEX_FIELD("qe_vendor_id", q->qe_vendor_id, 16);
  HEX_FIELD("user_data", q->user_data, 20);
  lua_pushstring(L, th_quote_body_name(q));
  lua_setfield(L, -2, "body");
  INT_FIELD("size", q->len);
  INT_FIELD("signed_len", q->signed_len);
  INT_FIELD("trailing", q->trailing);
  push_report(L, q);
  lua_setfield(L, -2, "report");
  HEX_FIELD("signature", q->signature, 64);
  HEX_FIELD("attestation_key", q->att_key, 64);
  push_sgx_report(L, &q->qe_report);
  lua_setfield(L, -2, "qe_report");
  HEX_FIELD("qe_report_signature", q->qe_report_sig, 64);
  HEX_FIELD("qe_auth_data", q->bytes + q->qe_auth_offset, q->qe_auth_len);
  INT_FIELD("cert_type", q->cert_type);
  push_quote_pck(L, q);
}

static void push_advisories(lua_State *L, const th_advisories *a) {
  lua_createtable(L, (int)a->n, 0);
  for (size_t i = 0; i < a->n; i++) {
    lua_pushstring(L, a->ids[i]);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
  attest_mark_array(L);
}

static void push_status(lua_State *L, int status, const th_advisories *a) {
  lua_createtable(L, 0, 2);
  lua_pushstring(L, th_tcb_status_name(status));
  lua_setfield(L, -2, "status");
  push_advisories(L, a);
  lua_setfield(L, -2, "advisory_ids");
}

void attest_push_result(lua_State *L, const th_quote *q, const th_verify_result *r) {
  lua_createtable(L, 0, 14);
  lua_pushstring(L, th_tcb_status_name(r->status));
  lua_setfield(L, -2, "status");
  push_advisories(L, &r->advisories);
  lua_setfield(L, -2, "advisory_ids");
  push_status(L, r->platform_status, &r->platform_advisories);
  lua_setfield(L, -2, "platform_status");
  push_status(L, r->qe_status, &r->qe_advisories);
  lua_setfield(L, -2, "qe_status");
  lua_pushstring(L, th_quote_tee_name(q));
  lua_setfield(L, -2, "tee");
  INT_FIELD("version", q->version);
  lua_pushstring(L, th_quote_body_name(q));
  lua_setfield(L, -2, "body");
  push_pck(L, &r->pck);
  lua_setfield(L, -2, "pck");
  HEX_FIELD("fmspc", r->pck.fmspc, 6);
  HEX_FIELD("ppid", r->pck.ppid, 16);
  lua_pushstring(L, r->tcb_date);
  lua_setfield(L, -2, "tcb_date");
  INT_FIELD("tcb_evaluation_data_number", r->tcb_evaluation_data_number);
  push_report(L, q);
  lua_setfield(L, -2, "report");
}
