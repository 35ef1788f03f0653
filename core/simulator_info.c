/* core/simulator_info.c — the facts Info reports and how they derive from the identity
 * (shared/specs/dstack.md 2.5, 7.5), kept consistent with the event log and the quotes:
 * app_id / compose_hash / instance_id are the runtime events' payloads, compose_hash =
 * SHA-256(app-compose text), instance_id = SHA-256(instance seed ‖ app_id)[0..20], device_id =
 * SHA-256(""), os_image_hash the VM config's, key_provider_info {"name":"kms","id":<hex of the
 * CA's SPKI DER>}, mr_aggregated / mr_system recomputable per 7.5.
 *
 * The os image is the upstream fixture's (its boot measurements are the ones we replay). The Info
 * body is cached until the next EmitEvent changes RTMR3. */
#include <cJSON.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "ratls.h"
#include "simulator_internal.h"

/* os_image_hash of the upstream fixture's VM config (vectors/README.md 6.2). */
static const char OS_IMAGE_HASH[] =
    "e61be43dd1cc6a6f5edefd7c51b608983780839b0000ce60dd99737dcffe09b9";

static int key_provider(th_simulator *s, th_err *err) {
  uint8_t *spki = NULL;
  size_t n;
  if (th_p256_spki_der(s->ca_key, &spki, &n, err) != 0) return -1;
  char *hex = malloc(2 * n + 1);
  size_t cap = 2 * n + 64;
  s->key_provider_info = hex ? malloc(cap) : NULL;
  if (s->key_provider_info) {
    th_hex_encode(spki, n, hex);
    snprintf(s->key_provider_info, cap, "{\"name\":\"kms\",\"id\":\"%s\"}", hex);
  }
  free(hex);
  free(spki);
  return s->key_provider_info ? 0 : th_sim_oom(err);
}

static int configs(th_simulator *s, th_err *err) {
  char vm[256];
  snprintf(vm, sizeof vm, "{\"os_image_hash\":\"%s\",\"cpu_count\":2,\"memory_size\":2147483648}",
           OS_IMAGE_HASH);
  th_sbuf b = {0};
  th_sbuf_cstr(&b, "{\"kms_urls\":[],\"gateway_urls\":[],\"pccs_url\":\"\",\"docker_registry\":"
                   "\"\",\"host_api_url\":\"\",\"vm_config\":");
  th_sbuf_jcstr(&b, vm);
  th_sbuf_cstr(&b, "}");
  s->sys_config = th_sbuf_take(&b, NULL);
  s->vm_config = strdup(vm);
  return s->sys_config && s->vm_config ? 0 : th_sim_oom(err);
}

int th_sim_info_init(th_simulator *s, th_err *err) {
  cJSON *c = cJSON_ParseWithLength(s->app_compose, s->app_compose_len);
  const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
  s->app_name = strdup(cJSON_IsString(name) ? name->valuestring : "");
  cJSON_Delete(c);
  if (!s->app_name) return th_sim_oom(err);
  SHA256((const uint8_t *)s->app_compose, s->app_compose_len, s->compose_hash);
  uint8_t m[40], h[32];
  memcpy(m, s->secret + TH_SIM_INSTANCE_SEED, 20);
  memcpy(m + 20, s->app_id, 20);
  SHA256(m, sizeof m, h);
  memcpy(s->instance_id, h, 20);
  SHA256((const uint8_t *)"", 0, s->device_id);
  if (th_hex_decode_exact(OS_IMAGE_HASH, 64, s->os_image_hash, 32, "os_image_hash", err) != 0)
    return -1;
  return key_provider(s, err) == 0 && configs(s, err) == 0 ? 0 : -1;
}

void th_sim_mr_system(const th_simulator *s, uint8_t out[32]) {
  uint8_t m[48 * 4 + 32];
  memcpy(m, s->td.mrtd, 48);
  memcpy(m + 48, s->rtmr, 48 * 3);
  SHA256((const uint8_t *)s->key_provider_info, strlen(s->key_provider_info), m + 192);
  SHA256(m, sizeof m, out);
}

/* MRCONFIGID is never zero here (it binds the compose hash), so the three config fields count. */
void th_sim_mr_aggregated(const th_simulator *s, uint8_t out[32]) {
  uint8_t m[48 * 8];
  memcpy(m, s->td.mrtd, 48);
  memcpy(m + 48, s->rtmr, 48 * 4);
  memcpy(m + 240, s->td.mrconfigid, 48);
  memcpy(m + 288, s->td.mrowner, 48);
  memcpy(m + 336, s->td.mrownerconfig, 48);
  SHA256(m, sizeof m, out);
}

/* tcb_info: pretty-printed (serde's two-space style), keys in the agent's order. */
static void tcb_info(const th_simulator *s, th_sbuf *b, const uint8_t mr_agg[32]) {
  static const char *rtmr[] = {"rtmr0", "rtmr1", "rtmr2", "rtmr3"};
  th_sbuf_cstr(b, "{\n");
  th_sbuf_pretty_hex(b, "mrtd", s->td.mrtd, 48);
  for (int i = 0; i < 4; i++)
    th_sbuf_pretty_hex(b, rtmr[i], s->rtmr[i], 48);
  th_sbuf_pretty_hex(b, "mr_aggregated", mr_agg, 32);
  th_sbuf_pretty_hex(b, "os_image_hash", s->os_image_hash, 32);
  th_sbuf_pretty_hex(b, "compose_hash", s->compose_hash, 32);
  th_sbuf_pretty_hex(b, "device_id", s->device_id, 32);
  th_sbuf_cstr(b, "  \"event_log\": [\n");
  th_sim_events_pretty(s, b, "    ");
  th_sbuf_cstr(b, "  ],\n  \"app_compose\": ");
  th_sbuf_jstr(b, s->app_compose, s->app_compose_len);
  th_sbuf_cstr(b, "\n}");
}

static void field(th_sbuf *b, const char *name, int first) {
  th_sbuf_cstr(b, first ? "{\"" : ",\"");
  th_sbuf_cstr(b, name);
  th_sbuf_cstr(b, "\":");
}

static int build(th_simulator *s, th_err *err) {
  uint8_t agg[32];
  th_sim_mr_aggregated(s, agg);
  th_sbuf t = {0}, b = {0};
  tcb_info(s, &t, agg);
  field(&b, "app_id", 1), th_sbuf_hex(&b, s->app_id, 20);
  field(&b, "instance_id", 0), th_sbuf_hex(&b, s->instance_id, 20);
  field(&b, "app_cert", 0), th_sbuf_jcstr(&b, s->app_cert);
  field(&b, "tcb_info", 0), th_sbuf_jstr(&b, t.p ? t.p : "", t.len);
  field(&b, "app_name", 0), th_sbuf_jcstr(&b, s->app_name);
  field(&b, "device_id", 0), th_sbuf_hex(&b, s->device_id, 32);
  field(&b, "mr_aggregated", 0), th_sbuf_hex(&b, agg, 32);
  field(&b, "os_image_hash", 0), th_sbuf_hex(&b, s->os_image_hash, 32);
  field(&b, "key_provider_info", 0), th_sbuf_jcstr(&b, s->key_provider_info);
  field(&b, "compose_hash", 0), th_sbuf_hex(&b, s->compose_hash, 32);
  field(&b, "vm_config", 0), th_sbuf_jcstr(&b, s->vm_config);
  field(&b, "cloud_vendor", 0), th_sbuf_cstr(&b, "\"\"");
  field(&b, "cloud_product", 0), th_sbuf_cstr(&b, "\"\"}");
  int bad = t.oom;
  th_sbuf_free(&t);
  size_t n = 0;
  char *body = th_sbuf_take(&b, &n);
  if (bad || !body) {
    free(body);
    return th_sim_oom(err);
  }
  free(s->info_resp);
  s->info_resp = body, s->info_len = n, s->info_gen = s->gen;
  return 0;
}

int th_sim_info(th_simulator *s, const th_sim_req *req, th_sbuf *out, th_err *err) {
  (void)req;
  if ((!s->info_resp || s->info_gen != s->gen) && build(s, err) != 0) return -1;
  th_sbuf_raw(out, s->info_resp, s->info_len);
  return 0;
}
