/* core/ratls_app_info.c — the RA-TLS app-info extension .1.9 (see ratls.h): dstack's AppInfo as
 * rmp-serde writes it at v0.5.6-v0.5.11, i.e. `rmp_serde::to_vec` (structs as positional
 * arrays) with every field `serde_human_bytes` (msgpack bin in a binary format):
 *   fixarray(8) of bin: app_id, compose_hash, instance_id, device_id, mr_system, mr_aggregated,
 *   os_image_hash, key_provider_info.
 * Source: Dstack-TEE/dstack dstack-attest/src/attestation.rs (struct AppInfo) and the
 * LEGACY_POSITIONAL_APP_INFO constant in ra-tls/src/cert.rs (upstream HEAD moved to a map keyed
 * by field name, readable by both). Hand-written because eight bin fields in an array are all the
 * msgpack needed; no msgpack library is linked. */
#include "ratls.h"

#include <stdlib.h>
#include <string.h>

/* Appends one msgpack bin (bin8/16/32 by length) at *p. */
static uint8_t *put_bin(uint8_t *p, const uint8_t *data, size_t len) {
  if (len < 0x100) {
    *p++ = 0xc4;
    *p++ = (uint8_t)len;
  } else if (len < 0x10000) {
    *p++ = 0xc5;
    *p++ = (uint8_t)(len >> 8);
    *p++ = (uint8_t)len;
  } else {
    *p++ = 0xc6;
    for (int s = 24; s >= 0; s -= 8) *p++ = (uint8_t)(len >> s);
  }
  if (len) memcpy(p, data, len);
  return p + len;
}

int th_app_info_msgpack(const th_app_info *info, uint8_t **out, size_t *len, th_err *err) {
  if (!info) return th_err_set(err, TH_EINVAL, "app info: nothing to encode");
  const struct {
    const uint8_t *p;
    size_t n;
  } f[8] = {
      {info->app_id, info->app_id_len},       {info->compose_hash, info->compose_hash_len},
      {info->instance_id, info->instance_id_len}, {info->device_id, info->device_id_len},
      {info->mr_system, info->mr_system_len}, {info->mr_aggregated, info->mr_aggregated_len},
      {info->os_image_hash, info->os_image_hash_len},
      {info->key_provider_info, info->key_provider_info_len},
  };
  size_t total = 1;
  for (int i = 0; i < 8; i++) {
    if (f[i].n > (1u << 20) || (f[i].n && !f[i].p))
      return th_err_set(err, TH_EINVAL, "app info: field %d is missing or larger than 1 MiB", i);
    total += 5 + f[i].n;
  }
  uint8_t *buf = malloc(total), *p = buf;
  if (!buf) return th_err_set(err, TH_ENOMEM, "app info: out of memory");
  *p++ = 0x98; /* fixarray of 8 */
  for (int i = 0; i < 8; i++) p = put_bin(p, f[i].p, f[i].n);
  *out = buf;
  *len = (size_t)(p - buf);
  return 0;
}
