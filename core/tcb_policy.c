/* core/tcb_policy.c — see tcb_policy.h. Rules and error texts follow dcap-qvl (verify.rs,
 * tcb_info.rs, qe_identity.rs) as described in shared/specs/tdx-quote.md 3.8–3.12. */
#include "tcb_policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

void th_tcb_verdict_clear(th_tcb_verdict *v) {
  for (size_t i = 0; i < v->advisories.n; i++) free(v->advisories.ids[i]);
  free(v->advisories.ids);
  v->advisories.ids = NULL;
  v->advisories.n = 0;
}

static int has_id(const th_advisories *a, const char *id) {
  for (size_t i = 0; i < a->n; i++)
    if (strcmp(a->ids[i], id) == 0) return 1;
  return 0;
}

static int append_ids(th_advisories *dst, const th_advisories *src, th_err *err) {
  for (size_t i = 0; i < src->n; i++) {
    if (has_id(dst, src->ids[i])) continue;
    char **ids = realloc(dst->ids, (dst->n + 1) * sizeof *ids);
    char *copy = ids ? strdup(src->ids[i]) : NULL;
    if (ids) dst->ids = ids;
    if (!copy) return th_err_set(err, TH_ENOMEM, "out of memory");
    dst->ids[dst->n++] = copy;
  }
  return 0;
}

int th_tcb_verdict_merge(th_tcb_verdict *a, const th_tcb_verdict *b, th_err *err) {
  if (b->status > a->status) a->status = b->status;
  return append_ids(&a->advisories, &b->advisories, err);
}

/* A verdict from a level's status and advisories (copied). */
static int verdict_from(th_tcb_verdict *out, int status, const th_advisories *adv, th_err *err) {
  out->status = status;
  return append_ids(&out->advisories, adv, err);
}

int th_qe_policy(const th_sgx_report *qe, const th_qe_identity *id, th_tcb_verdict *out,
                 th_err *err) {
  if (memcmp(qe->mrsigner, id->mrsigner, 32) != 0)
    return th_err_set(err, TH_EVERIFY, "QE MRSIGNER mismatch");
  if (qe->attributes[0] & 0x02) return th_err_set(err, TH_EVERIFY, "the QE is a debug enclave");
  if (qe->isvprodid != id->isvprodid)
    return th_err_set(err, TH_EVERIFY, "QE ISVPRODID mismatch (%u, want %u)", qe->isvprodid,
                      id->isvprodid);
  if ((qe->miscselect & id->miscselect_mask) != (id->miscselect & id->miscselect_mask))
    return th_err_set(err, TH_EVERIFY, "QE MISCSELECT mismatch");
  for (int i = 0; i < 16; i++)
    if ((qe->attributes[i] & id->attributes_mask[i]) != (id->attributes[i] & id->attributes_mask[i]))
      return th_err_set(err, TH_EVERIFY, "QE ATTRIBUTES mismatch at byte %d", i);
  if (id->nlevels == 0) return th_err_set(err, TH_EVERIFY, "no TCB levels in the QE identity");
  for (size_t i = 0; i < id->nlevels; i++)
    if (qe->isvsvn >= id->levels[i].isvsvn)
      return verdict_from(out, id->levels[i].status, &id->levels[i].advisories, err);
  return th_err_set(err, TH_EVERIFY, "QE ISVSVN %u is below the minimum required %u", qe->isvsvn,
                    id->levels[id->nlevels - 1].isvsvn);
}

static int meets(const uint8_t *have, const uint8_t *want) {
  for (int i = 0; i < 16; i++)
    if (have[i] < want[i]) return 0;
  return 1;
}

int th_tcb_match_level(const th_tcb_info *info, const th_pck_ext *pck, const th_quote *q,
                       const th_tcb_level **level, th_err *err) {
  int tdx = q->tee_type == TH_TEE_TDX;
  for (size_t i = 0; i < info->nlevels; i++) {
    const th_tcb_level *l = &info->levels[i];
    if (pck->pcesvn < l->pcesvn) continue;
    if (l->n_sgx != 16)
      return th_err_set(err, TH_EVERIFY, "SGX component count mismatch in tcbLevels (%zu, want 16)",
                        l->n_sgx);
    if (!meets(pck->cpusvn, l->sgx)) continue;
    if (tdx) {
      if (l->n_tdx != 16)
        return th_err_set(err, TH_EVERIFY,
                          "TDX component count mismatch in tcbLevels (%zu, want 16)", l->n_tdx);
      if (!meets(q->td.tee_tcb_svn, l->tdx)) continue;
    }
    *level = l;
    return 0;
  }
  return th_err_set(err, TH_EVERIFY, "no matching TCB level found");
}

/* The TDX_%02X identity for `major`, or NULL. */
static const th_tdx_module_identity *module_identity(const th_tcb_info *info, unsigned major) {
  char want[16];
  snprintf(want, sizeof want, "TDX_%02X", major);
  for (size_t i = 0; i < info->n_module_identities; i++)
    if (strcasecmp(info->module_identities[i].id, want) == 0) return &info->module_identities[i];
  return NULL;
}

int th_tdx_module_check(const th_tcb_info *info, const th_td_report *td, th_tcb_verdict *out,
                        int *has_verdict, th_err *err) {
  *has_verdict = 0;
  if (!info->has_tdx_module)
    return th_err_set(err, TH_EVERIFY, "the TDX TCB info has no tdxModule");
  const uint8_t *mrsigner = info->tdx_module_mrsigner;
  const uint8_t *attrs = info->tdx_module_attributes, *mask = info->tdx_module_attributes_mask;
  unsigned isvsvn = td->tee_tcb_svn[0], major = td->tee_tcb_svn[1];
  const th_tdx_module_identity *ident = NULL;
  if (major > 0 && info->n_module_identities > 0) {
    ident = module_identity(info, major);
    if (!ident)
      return th_err_set(err, TH_EVERIFY, "no TDX module identity TDX_%02X in the TCB info", major);
    mrsigner = ident->mrsigner;
    attrs = ident->attributes;
    mask = ident->attributes_mask;
  }
  if (memcmp(td->mrsignerseam, mrsigner, 48) != 0)
    return th_err_set(err, TH_EVERIFY, "TDX module MRSIGNER mismatch");
  for (int i = 0; i < 8; i++) {
    if ((td->seam_attributes[i] & mask[i]) != (attrs[i] & mask[i]))
      return th_err_set(err, TH_EVERIFY, "TDX module SEAMATTRIBUTES mismatch at byte %d", i);
    if (td->seam_attributes[i] & ~mask[i])
      return th_err_set(err, TH_EVERIFY, "TDX module SEAMATTRIBUTES has bits set outside the mask");
  }
  if (!ident) return 0;
  for (size_t i = 0; i < ident->nlevels; i++) {
    if (isvsvn >= ident->levels[i].isvsvn) {
      *has_verdict = 1;
      return verdict_from(out, ident->levels[i].status, &ident->levels[i].advisories, err);
    }
  }
  return th_err_set(err, TH_EVERIFY, "TDX module ISVSVN %u is below the minimum required %u", isvsvn,
                    ident->nlevels ? ident->levels[ident->nlevels - 1].isvsvn : 0);
}
