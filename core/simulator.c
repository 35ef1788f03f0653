/* core/simulator.c — opening and freeing the simulator (see simulator.h; the pieces are in
 * simulator_*.c, listed in simulator_internal.h).
 *
 * Open order matters: identity (state) → derived facts (info) → PKI → event log (needs the facts)
 * → the demo certificate (needs a quote) → caches. Everything per call afterwards is in memory. */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "simulator_internal.h"

/* A reset makes the PKI anew too: remove the files sim_pki.h lists, so it regenerates them. */
static void reset_pki(const char *dcap) {
  static const char *files[] = {"seed",    "root.der",     "pck_ca.der", "pck.der",
                                "tcb.der", "root_crl.der", "pck_crl.der"};
  char path[4300];
  for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
    snprintf(path, sizeof path, "%s/%s", dcap, files[i]);
    unlink(path);
  }
}

th_simulator *th_simulator_open(const th_simulator_opts *opts, th_err *err) {
  if (!opts || !opts->dir || !*opts->dir)
    return th_err_set(err, TH_EINVAL, "simulator: a state directory is required"), NULL;
  if (sodium_init() < 0)
    return th_err_set(err, TH_ENOMEM, "simulator: libsodium init failed"), NULL;
  th_simulator *s = calloc(1, sizeof *s);
  if (!s) return th_sim_oom(err), NULL;
  char dcap[4200];
  snprintf(dcap, sizeof dcap, "%s/dcap", opts->dir);
  if (th_sim_state_load(s, opts, err) != 0 || th_sim_info_init(s, err) != 0) goto fail;
  if (opts->reset) reset_pki(dcap);
  if (!(s->pki = th_sim_pki_open(dcap, NULL, err))) goto fail;
  if (th_sim_events_init(s, err) != 0 || th_sim_demo_cert(s, err) != 0 ||
      th_sim_events_json(s, err) != 0)
    goto fail;
  return s;
fail:
  th_simulator_free(s);
  return NULL;
}

void th_simulator_free(th_simulator *s) {
  if (!s) return;
  th_sim_pki_free(s->pki);
  th_sim_state_free(s);
  th_eventlog_free(&s->log);
  free(s->app_name);
  free(s->key_provider_info);
  free(s->vm_config);
  free(s->sys_config);
  free(s->app_cert);
  free(s->log_json);
  free(s->log_json_str);
  free(s->info_resp);
  sodium_free(s->key_cache); /* derived keys: wiped with the block */
  free(s);
}

const uint8_t *th_simulator_kms_root(const th_simulator *s) { return s->kms_root_pub; }
const uint8_t *th_simulator_app_id(const th_simulator *s) { return s->app_id; }
th_sim_pki *th_simulator_pki(th_simulator *s) { return s->pki; }
