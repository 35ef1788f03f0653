/* core/simulator_state.c — the simulator's identity: dir/identity.json, made once and kept.
 *
 * Holds the KMS root secp256k1 key, the app id, the instance seed, the CA's P-256 key (PKCS#8 PEM)
 * and certificate (PEM), the app-compose text, and — only after an import of an upstream
 * appkeys.json (vectors/README.md 6.4), whose KMS root is unknown — the app key and its KMS
 * signature. Otherwise the app key is derived as the KMS derives it, HKDF(root, app_id ‖
 * "app-key") (spec 4.1), and k256_signature is the root's signature over it (spec 4.3).
 *
 * The file is JSON, mode 0600 in a 0700 directory, written atomically through core/secret_file,
 * which also refuses a group-readable one with its chmod hint. Secrets are held in one
 * sodium_malloc block; the file text and every parsed string are wiped before they are freed. */
#include <cJSON.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hex.h"
#include "keccak.h"
#include "keys.h"
#include "ratls.h"
#include "secret_file.h"
#include "simulator_internal.h"

static const th_secret_words WORDS = {"simulator", "is readable by others", 3,
                                      "it holds the simulated KMS and app keys"};

#define IDENTITY "identity.json"

/* A plausible app-compose.json (keys sorted, compact: what getComposeHash would produce). */
static const char DEFAULT_COMPOSE[] =
    "{\"allowed_envs\":[],\"docker_compose_file\":\"services:\\n  app:\\n    image: "
    "teehost/app:latest\\n\",\"gateway_enabled\":false,\"kms_enabled\":true,\"key_provider\":"
    "\"kms\",\"key_provider_id\":\"\",\"local_key_provider_enabled\":false,\"manifest_version\":2,"
    "\"name\":\"teehost-simulator\",\"no_instance_id\":false,\"public_logs\":true,"
    "\"public_sysinfo\":true,\"public_tcbinfo\":true,\"runner\":\"docker-compose\","
    "\"secure_time\":false,\"storage_fs\":\"zfs\"}";

static uint8_t *root_key(th_simulator *s) { return s->secret + TH_SIM_KMS_ROOT; }
static uint8_t *app_key(th_simulator *s) { return s->secret + TH_SIM_APP_KEY; }

static void wipe_tree(cJSON *t) {
  for (cJSON *c = t ? t->child : NULL; c; c = c->next) {
    if (cJSON_IsString(c) && c->valuestring) sodium_memzero(c->valuestring, strlen(c->valuestring));
    wipe_tree(c);
  }
}

static const char *jstr(const cJSON *t, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(t, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

static int jhex(const cJSON *t, const char *name, uint8_t *out, size_t n, th_err *err) {
  const char *s = jstr(t, name);
  if (!s) return th_err_set(err, TH_EBADDATA, "simulator: identity.json lacks \"%s\"", name);
  return th_hex_decode_exact(s, strlen(s), out, n, name, err);
}

static int set_ca(th_simulator *s, const char *key_pem, const char *cert_pem, th_err *err) {
  if (!(s->ca_key = th_p256_from_pkcs8_pem(key_pem, strlen(key_pem), err))) return -1;
  BIO *bio = BIO_new_mem_buf(cert_pem, -1);
  s->ca_cert = bio ? PEM_read_bio_X509(bio, NULL, NULL, NULL) : NULL;
  BIO_free(bio);
  if (!s->ca_cert) return th_err_set(err, TH_EBADDATA, "simulator: CA certificate does not parse");
  if (X509_check_private_key(s->ca_cert, s->ca_key) != 1)
    return th_err_set(err, TH_EBADDATA, "simulator: CA key does not match the CA certificate");
  s->ca_key_pem = strdup(key_pem);
  s->ca_cert_pem = strdup(cert_pem);
  return s->ca_key_pem && s->ca_cert_pem ? 0 : th_sim_oom(err);
}

static int parse_fields(th_simulator *s, const cJSON *t, th_err *err) {
  const char *root = jstr(t, "kms_root_key"), *key = jstr(t, "ca_key"), *cert = jstr(t, "ca_cert");
  const char *compose = jstr(t, "app_compose");
  if (!root || !key || !cert || !compose)
    return th_err_set(err, TH_EBADDATA, "simulator: identity.json is incomplete");
  if (jhex(t, "app_id", s->app_id, 20, err) ||
      jhex(t, "instance_seed", s->secret + TH_SIM_INSTANCE_SEED, 20, err))
    return -1;
  s->has_kms_root = *root != 0;
  if (s->has_kms_root) {
    if (th_hex_decode_exact(root, strlen(root), root_key(s), 32, "kms_root_key", err)) return -1;
  } else if (jhex(t, "app_key", app_key(s), 32, err) ||
             jhex(t, "k256_signature", s->k256_sig, 65, err)) {
    return -1;
  }
  if (set_ca(s, key, cert, err) != 0) return -1;
  return (s->app_compose = strdup(compose)) ? 0 : th_sim_oom(err);
}

static int parse_identity(th_simulator *s, const char *text, size_t len, th_err *err) {
  cJSON *t = cJSON_ParseWithLength(text, len);
  if (!t) return th_err_set(err, TH_EBADDATA, "simulator: identity.json is not JSON");
  int rc = parse_fields(s, t, err);
  wipe_tree(t);
  cJSON_Delete(t);
  return rc;
}

static int generate(th_simulator *s, th_err *err) {
  uint8_t pub[33];
  size_t pub_len;
  do { /* a random 32-byte string is a valid secp256k1 scalar with overwhelming probability */
    if (RAND_bytes(root_key(s), 32) != 1)
      return th_err_set(err, TH_EIO, "simulator: no randomness");
  } while (th_key_public(TH_KEY_SECP256K1, root_key(s), pub, &pub_len, NULL) != 0);
  s->has_kms_root = 1;
  if (RAND_bytes(s->app_id, 20) != 1 || RAND_bytes(s->secret + TH_SIM_INSTANCE_SEED, 20) != 1)
    return th_err_set(err, TH_EIO, "simulator: no randomness");
  EVP_PKEY *key = th_p256_generate(err);
  X509 *cert = key ? th_ratls_ca_create(key, "teehost simulator KMS CA", err) : NULL;
  char *key_pem = NULL, *cert_pem = NULL;
  size_t n;
  int rc = cert && th_p256_pkcs8_pem(key, &key_pem, &n, err) == 0 &&
                   th_x509_pem(cert, &cert_pem, err) == 0
               ? 0
               : -1;
  if (rc == 0) rc = set_ca(s, key_pem, cert_pem, err);
  if (key_pem) sodium_memzero(key_pem, strlen(key_pem));
  free(key_pem);
  free(cert_pem);
  EVP_PKEY_free(key);
  X509_free(cert);
  if (rc == 0 && !(s->app_compose = strdup(DEFAULT_COMPOSE))) return th_sim_oom(err);
  return rc;
}

/* Imports k256_key, k256_signature, ca_cert and key_provider.None.key of an upstream file. */
static int import_appkeys(th_simulator *s, const char *path, th_err *err) {
  uint8_t *text = NULL;
  size_t len;
  int r = th_secret_read(&WORDS, path, TH_SECRET_SODIUM, 1 << 20, &text, &len, err);
  if (r == 0) return th_err_set(err, TH_EINVAL, "simulator: %s: no such file", path);
  if (r < 0) return -1;
  cJSON *t = cJSON_ParseWithLength((const char *)text, len);
  sodium_free(text);
  const cJSON *kp = cJSON_GetObjectItemCaseSensitive(t, "key_provider");
  const char *ca_key = jstr(cJSON_GetObjectItemCaseSensitive(kp, "None"), "key");
  const char *k = jstr(t, "k256_key"), *sig = jstr(t, "k256_signature"), *ca = jstr(t, "ca_cert");
  int rc = -1;
  if (!t || !k || !sig || !ca || !ca_key)
    th_err_set(err, TH_EBADDATA,
               "simulator: %s: want k256_key, k256_signature, ca_cert and "
               "key_provider.None.key (an upstream appkeys.json)",
               path);
  else if (th_hex_decode_exact(k, strlen(k), app_key(s), 32, "k256_key", err) == 0 &&
           th_hex_decode_exact(sig, strlen(sig), s->k256_sig, 65, "k256_signature", err) == 0) {
    EVP_PKEY_free(s->ca_key);
    X509_free(s->ca_cert);
    if (s->ca_key_pem) sodium_memzero(s->ca_key_pem, strlen(s->ca_key_pem));
    free(s->ca_key_pem);
    free(s->ca_cert_pem);
    s->ca_key = NULL, s->ca_cert = NULL, s->ca_key_pem = s->ca_cert_pem = NULL;
    rc = set_ca(s, ca_key, ca, err);
    s->has_kms_root = 0;
    sodium_memzero(root_key(s), 32);
  }
  wipe_tree(t);
  cJSON_Delete(t);
  return rc;
}

/* app key, app public key, KMS signature and KMS root public key from what is known. */
static int derive(th_simulator *s, th_err *err) {
  size_t n;
  if (s->has_kms_root) {
    uint8_t info[27];
    memcpy(info, s->app_id, 20);
    memcpy(info + 20, "app-key", 7);
    if (th_key_hkdf(root_key(s), 32, info, sizeof info, app_key(s), err) != 0 ||
        th_key_public(TH_KEY_SECP256K1, root_key(s), s->kms_root_pub, &n, err) != 0 ||
        th_key_public(TH_KEY_SECP256K1, app_key(s), s->app_pub, &n, err) != 0)
      return -1;
    return th_key_kms_signature(root_key(s), s->app_id, s->app_pub, s->k256_sig, err);
  }
  if (th_key_public(TH_KEY_SECP256K1, app_key(s), s->app_pub, &n, err) != 0) return -1;
  uint8_t msg[18 + 20 + 33], digest[32];
  memcpy(msg, "dstack-kms-issued:", 18);
  memcpy(msg + 18, s->app_id, 20);
  memcpy(msg + 38, s->app_pub, 33);
  th_keccak256(msg, sizeof msg, digest);
  if (th_secp256k1_recover(digest, s->k256_sig, s->kms_root_pub, NULL) != 0)
    memset(s->kms_root_pub, 0, sizeof s->kms_root_pub); /* a signature that recovers nothing */
  return 0;
}

static void put_field(th_sbuf *b, const char *name, const char *value, int last) {
  th_sbuf_cstr(b, "  ");
  th_sbuf_jcstr(b, name);
  th_sbuf_cstr(b, ": ");
  th_sbuf_jcstr(b, value);
  th_sbuf_cstr(b, last ? "\n" : ",\n");
}

static int save(th_simulator *s, const char *dir, th_err *err) {
  size_t cap = 4096 + 2 * (strlen(s->ca_key_pem) + strlen(s->ca_cert_pem)) + 6 * s->app_compose_len;
  th_sbuf b = {malloc(cap), 0, cap, 0}; /* sized up front: no realloc leaves secrets behind */
  if (!b.p) return th_sim_oom(err);
  th_sbuf_cstr(&b, "{\n  \"version\": 1,\n");
  if (s->has_kms_root)
    th_sbuf_pretty_hex(&b, "kms_root_key", root_key(s), 32);
  else
    th_sbuf_cstr(&b, "  \"kms_root_key\": \"\",\n");
  th_sbuf_pretty_hex(&b, "kms_root_public", s->kms_root_pub, 33);
  th_sbuf_pretty_hex(&b, "app_id", s->app_id, 20);
  th_sbuf_pretty_hex(&b, "app_key", app_key(s), 32);
  th_sbuf_pretty_hex(&b, "k256_signature", s->k256_sig, 65);
  th_sbuf_pretty_hex(&b, "instance_seed", s->secret + TH_SIM_INSTANCE_SEED, 20);
  put_field(&b, "ca_key", s->ca_key_pem, 0);
  put_field(&b, "ca_cert", s->ca_cert_pem, 0);
  put_field(&b, "app_compose", s->app_compose, 1);
  th_sbuf_cstr(&b, "}\n");
  int rc = b.oom ? th_sim_oom(err) : th_secret_write(&WORDS, dir, IDENTITY, b.p, b.len, err);
  if (b.p) sodium_memzero(b.p, b.cap);
  th_sbuf_free(&b);
  return rc;
}

int th_sim_state_load(th_simulator *s, const th_simulator_opts *o, th_err *err) {
  if (!(s->secret = sodium_malloc(TH_SIM_SECRET_SIZE))) return th_sim_oom(err);
  sodium_memzero(s->secret, TH_SIM_SECRET_SIZE);
  if (th_secret_dir(&WORDS, o->dir, 0, err) != 0) return -1;
  char path[4096];
  if ((size_t)snprintf(path, sizeof path, "%s/" IDENTITY, o->dir) >= sizeof path)
    return th_err_set(err, TH_EINVAL, "simulator: directory path too long");
  int found = 0;
  if (!o->reset) {
    uint8_t *text = NULL;
    size_t len;
    found = th_secret_read(&WORDS, path, TH_SECRET_PRIVATE | TH_SECRET_NOFOLLOW | TH_SECRET_SODIUM,
                           4 << 20, &text, &len, err);
    if (found < 0) return -1;
    int rc = found ? parse_identity(s, (const char *)text, len, err) : 0;
    if (text) sodium_free(text);
    if (rc != 0) return -1;
  }
  if (!found && generate(s, err) != 0) return -1;
  if (o->app_id) memcpy(s->app_id, o->app_id, 20);
  if (o->appkeys_path && import_appkeys(s, o->appkeys_path, err) != 0) return -1;
  s->app_compose_len = strlen(s->app_compose);
  if (derive(s, err) != 0) return -1;
  if (!found || o->app_id || o->appkeys_path) return save(s, o->dir, err);
  return 0;
}

void th_sim_state_free(th_simulator *s) {
  if (s->secret) sodium_free(s->secret);
  EVP_PKEY_free(s->ca_key);
  X509_free(s->ca_cert);
  if (s->ca_key_pem) sodium_memzero(s->ca_key_pem, strlen(s->ca_key_pem));
  free(s->ca_key_pem);
  free(s->ca_cert_pem);
  free(s->app_compose);
}
