/* core/phala_key.c — the Phala Cloud API key: lookup, key files, phala 1.0.35's legacy form
 * (see phala_key.h for the rules).
 *
 * Every buffer that held key bytes (file contents, decrypted text) is sodium_malloc'd, so
 * sodium_free wipes it; cJSON's copy of a token is wiped before the tree is deleted. */
#include "phala_key.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/sha.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "hex.h"
#include "secret_file.h"

#define FILE_MAX (64 * 1024)
#define KEY_MAX 4096

/* ---- helpers ------------------------------------------------------------------------------- */

/* An API key is one token of printable ASCII: it goes into a header line. */
static int key_ok(const char *k, size_t n) {
  if (n == 0 || n > KEY_MAX) return 0;
  for (size_t i = 0; i < n; i++)
    if (k[i] < 0x21 || k[i] > 0x7e) return 0;
  return 1;
}

static char *secure_copy(const char *s, size_t n) {
  if (sodium_init() < 0) return NULL;
  char *c = sodium_malloc(n + 1);
  if (c) {
    memcpy(c, s, n);
    c[n] = '\0';
  }
  return c;
}

static int is_blank(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

static void trim(const char **s, size_t *n) {
  while (*n && is_blank(**s)) {
    (*s)++;
    (*n)--;
  }
  while (*n && is_blank((*s)[*n - 1])) (*n)--;
}

static const th_secret_words WORDS = {"Phala Cloud", "is accessible by group or others", 4,
                                      "it holds your API key"};

/* Reads a whole secret file into sodium_malloc'd memory after checking that it is a regular
 * file nobody else can read. Returns 1, 0 when it does not exist, -1 with err. */
static int read_secret_file(const char *path, char **out, size_t *len, th_err *err) {
  uint8_t *buf = NULL;
  int rc = th_secret_read(&WORDS, path, TH_SECRET_PRIVATE | TH_SECRET_SODIUM, FILE_MAX, &buf, len,
                          err);
  if (rc == 1) *out = (char *)buf;
  return rc;
}

int th_phala_key_dir(char *buf, size_t size, const char *home, const char *override, th_err *err) {
  int n;
  if (override && *override) n = snprintf(buf, size, "%s", override);
  else if (home && *home) n = snprintf(buf, size, "%s/.phala-cloud", home);
  else return th_err_set(err, TH_EINVAL, "Phala Cloud: neither PHALA_CLOUD_DIR nor HOME is set");
  if (n < 0 || (size_t)n >= size) return th_err_set(err, TH_EINVAL, "Phala Cloud: key directory path too long");
  return 0;
}

/* ---- the legacy (1.0.35) form -------------------------------------------------------------- */

static void machine_key(const th_phala_machine *m, uint8_t key[32]) {
  char input[sizeof m->hostname + sizeof m->platform + sizeof m->arch + sizeof m->cpu_model +
             sizeof m->username + 8];
  int n = snprintf(input, sizeof input, "%s|%s|%s|%s|%s", m->hostname, m->platform, m->arch,
                   m->cpu_model, m->username);
  SHA256((const uint8_t *)input, (size_t)n, key);
}

/* AES-256-CBC with PKCS#7 padding in either direction; out must hold len + 16 bytes. */
static int cbc(int enc, const uint8_t key[32], const uint8_t iv[16], const uint8_t *in, size_t len,
               uint8_t *out, size_t *out_len) {
  EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
  int n1 = 0, n2 = 0;
  int ok = ctx && len <= (size_t)KEY_MAX * 2 &&
           EVP_CipherInit_ex(ctx, EVP_aes_256_cbc(), NULL, key, iv, enc) == 1 &&
           EVP_CipherUpdate(ctx, out, &n1, in, (int)len) == 1 &&
           EVP_CipherFinal_ex(ctx, out + n1, &n2) == 1;
  EVP_CIPHER_CTX_free(ctx);
  *out_len = ok ? (size_t)(n1 + n2) : 0;
  return ok ? 0 : -1;
}

int th_phala_legacy_encrypt(const th_phala_machine *m, const char *key, const uint8_t iv[16],
                            char **out, th_err *err) {
  size_t n = strlen(key), ct_len;
  uint8_t k[32];
  uint8_t *ct = malloc(n + 16);
  char *text = malloc(32 + 1 + 2 * (n + 16) + 1);
  machine_key(m, k);
  int rc = -1;
  if (!ct || !text) {
    th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
  } else if (cbc(1, k, iv, (const uint8_t *)key, n, ct, &ct_len) != 0) {
    th_err_set(err, TH_EINVAL, "Phala Cloud: cannot encrypt the key");
  } else {
    th_hex_encode(iv, 16, text);
    text[32] = ':';
    th_hex_encode(ct, ct_len, text + 33);
    *out = text;
    text = NULL;
    rc = 0;
  }
  sodium_memzero(k, sizeof k);
  free(ct);
  free(text);
  return rc;
}

int th_phala_legacy_decrypt(const th_phala_machine *m, const char *content, size_t len,
                            char **key_out, th_err *err) {
  const char *colon = memchr(content, ':', len);
  uint8_t iv[16], k[32];
  uint8_t *ct = NULL, *plain = NULL;
  size_t ct_len = 0, plain_len = 0;
  int rc = -1;
  if (!colon || th_hex_decode_exact(content, (size_t)(colon - content), iv, 16, "iv", err) != 0 ||
      th_hex_decode_alloc(colon + 1, len - (size_t)(colon - content) - 1, &ct, &ct_len,
                          "ciphertext", err) != 0 ||
      ct_len == 0 || ct_len % 16 != 0) {
    th_err_set(err, TH_EBADDATA, "Phala Cloud: the key file is not in phala 1.0's iv:ciphertext form");
    free(ct);
    return -1;
  }
  machine_key(m, k);
  if (sodium_init() < 0 || !(plain = sodium_malloc(ct_len + 16))) {
    th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
  } else if (cbc(0, k, iv, ct, ct_len, plain, &plain_len) != 0 ||
             !key_ok((const char *)plain, plain_len)) {
    th_err_set(err, TH_EVERIFY, "Phala Cloud: cannot decrypt the key file: it was written by phala "
                                "1.0 on a machine with another hostname, CPU or user");
  } else if (!(*key_out = secure_copy((const char *)plain, plain_len))) {
    th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
  } else {
    rc = 0;
  }
  sodium_memzero(k, sizeof k);
  sodium_free(plain);
  free(ct);
  return rc;
}

static const char *node_platform(void) {
#if defined(__linux__)
  return "linux";
#elif defined(__APPLE__)
  return "darwin";
#elif defined(__FreeBSD__)
  return "freebsd";
#elif defined(__OpenBSD__)
  return "openbsd";
#else
  return "unknown";
#endif
}

/* process.arch's names for the architectures Node runs on. */
static const char *node_arch(void) {
#if defined(__x86_64__)
  return "x64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "ia32";
#elif defined(__arm__)
  return "arm";
#elif defined(__powerpc64__)
  return "ppc64";
#elif defined(__s390x__)
  return "s390x";
#elif defined(__riscv) && __riscv_xlen == 64
  return "riscv64";
#elif defined(__loongarch64)
  return "loong64";
#else
  return "unknown";
#endif
}

int th_phala_machine_get(th_phala_machine *m, th_err *err) {
  memset(m, 0, sizeof *m);
  size_t n = sizeof m->hostname;
  int rc = uv_os_gethostname(m->hostname, &n);
  if (rc != 0) return th_err_set(err, TH_EIO, "Phala Cloud: hostname: %s", uv_strerror(rc));
  snprintf(m->platform, sizeof m->platform, "%s", node_platform());
  snprintf(m->arch, sizeof m->arch, "%s", node_arch());
  uv_cpu_info_t *cpus = NULL;
  int count = 0;
  if (uv_cpu_info(&cpus, &count) == 0 && count > 0 && cpus[0].model)
    snprintf(m->cpu_model, sizeof m->cpu_model, "%s", cpus[0].model);
  if (cpus) uv_free_cpu_info(cpus, count);
  uv_passwd_t pw;
  if ((rc = uv_os_get_passwd(&pw)) != 0)
    return th_err_set(err, TH_EIO, "Phala Cloud: user name: %s", uv_strerror(rc));
  snprintf(m->username, sizeof m->username, "%s", pw.username);
  uv_os_free_passwd(&pw);
  return 0;
}

/* ---- loading ------------------------------------------------------------------------------- */

static int set_path(th_phala_key *out, const char *dir, const char *name, th_err *err) {
  int n = snprintf(out->path, sizeof out->path, "%s/%s", dir, name);
  if (n < 0 || (size_t)n >= sizeof out->path)
    return th_err_set(err, TH_EINVAL, "Phala Cloud: key directory path too long");
  return 0;
}

/* "Phala Cloud: <why>" becomes "Phala Cloud: <path>: <why>; log in again". */
static void name_file(th_err *err, const char *path) {
  static const char prefix[] = "Phala Cloud: ";
  if (!err || strncmp(err->message, prefix, sizeof prefix - 1) != 0) return;
  char why[sizeof err->message];
  snprintf(why, sizeof why, "%s", err->message + sizeof prefix - 1);
  th_err_set(err, err->code, "%s%s: %s; log in again", prefix, path, why);
}

/* <dir>/api-key: plain text, or 1.0.35's iv:ciphertext (it has a ':' and keys have none). */
static int load_api_key_file(th_phala_key *out, const char *dir, const th_phala_machine *machine,
                             th_err *err) {
  char *buf = NULL;
  size_t len = 0;
  if (set_path(out, dir, "api-key", err) != 0) return -1;
  int rc = read_secret_file(out->path, &buf, &len, err);
  if (rc <= 0) return rc;
  const char *s = buf;
  trim(&s, &len);
  th_phala_machine here;
  if (memchr(s, ':', len)) {
    out->source = TH_PHALA_KEY_LEGACY_FILE;
    if (!machine && th_phala_machine_get(&here, err) != 0) rc = -1;
    else if (th_phala_legacy_decrypt(machine ? machine : &here, s, len, &out->key, err) != 0) rc = -1;
  } else if (!key_ok(s, len)) {
    rc = th_err_set(err, TH_EBADDATA, "Phala Cloud: %s does not hold an API key", out->path);
  } else {
    out->source = TH_PHALA_KEY_FILE;
    if (!(out->key = secure_copy(s, len))) rc = th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
  }
  if (rc < 0 && out->source == TH_PHALA_KEY_LEGACY_FILE) name_file(err, out->path);
  sodium_free(buf);
  return rc;
}

static const char *json_string(const cJSON *obj, const char *name) {
  const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
  return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* The token of the current profile; a file of another schema is ignored (spec §2.4). */
static int take_profile(th_phala_key *out, cJSON *root, th_err *err) {
  const cJSON *version = cJSON_GetObjectItemCaseSensitive(root, "schema_version");
  const char *current = json_string(root, "current_profile");
  const cJSON *profiles = cJSON_GetObjectItemCaseSensitive(root, "profiles");
  if (!cJSON_IsNumber(version) || version->valuedouble != 1 || !current || !*current ||
      !cJSON_IsObject(profiles))
    return 0;
  cJSON *p = cJSON_GetObjectItemCaseSensitive(profiles, current);
  cJSON *token = cJSON_GetObjectItemCaseSensitive(p, "token");
  if (!cJSON_IsString(token) || !*token->valuestring) return 0;
  if (!key_ok(token->valuestring, strlen(token->valuestring)))
    return th_err_set(err, TH_EBADDATA, "Phala Cloud: %s: profile '%.60s' holds no usable token",
                      out->path, current);
  out->key = secure_copy(token->valuestring, strlen(token->valuestring));
  sodium_memzero(token->valuestring, strlen(token->valuestring));
  if (!out->key) return th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
  out->source = TH_PHALA_KEY_CREDENTIALS;
  snprintf(out->profile, sizeof out->profile, "%s", current);
  const char *prefix = json_string(p, "api_prefix");
  if (prefix) snprintf(out->api_prefix, sizeof out->api_prefix, "%s", prefix);
  return 1;
}

static int load_credentials(th_phala_key *out, const char *dir, th_err *err) {
  char *buf = NULL;
  size_t len = 0;
  if (set_path(out, dir, "credentials.json", err) != 0) return -1;
  int rc = read_secret_file(out->path, &buf, &len, err);
  if (rc <= 0) return rc;
  cJSON *root = cJSON_ParseWithLength(buf, len);
  sodium_free(buf);
  if (!root) return th_err_set(err, TH_EBADDATA, "Phala Cloud: %s is not valid JSON", out->path);
  rc = take_profile(out, root, err);
  cJSON_Delete(root);
  return rc;
}

int th_phala_key_load(th_phala_key *out, const char *env_key, const char *dir,
                      const th_phala_machine *machine, th_err *err) {
  memset(out, 0, sizeof *out);
  if (env_key && *env_key) {
    size_t n = strlen(env_key);
    const char *s = env_key;
    trim(&s, &n);
    if (!key_ok(s, n))
      return th_err_set(err, TH_EINVAL, "Phala Cloud: PHALA_CLOUD_API_KEY holds characters an API "
                                        "key cannot have (only printable ASCII, no spaces)");
    if (!(out->key = secure_copy(s, n))) return th_err_set(err, TH_ENOMEM, "Phala Cloud: out of memory");
    out->source = TH_PHALA_KEY_ENV;
    return 1;
  }
  int rc = dir ? load_api_key_file(out, dir, machine, err) : 0;
  if (rc == 0 && dir) rc = load_credentials(out, dir, err);
  if (rc <= 0) {
    int src = out->source;
    th_phala_key_clear(out);
    if (rc < 0) out->source = src; /* says which file failed */
  }
  return rc;
}

void th_phala_key_clear(th_phala_key *k) {
  if (!k) return;
  sodium_free(k->key);
  memset(k, 0, sizeof *k);
}

/* ---- saving -------------------------------------------------------------------------------- */

int th_phala_key_save(const char *dir, const char *key, th_err *err) {
  if (!key || !key_ok(key, strlen(key)))
    return th_err_set(err, TH_EINVAL, "Phala Cloud: not an API key (empty, or characters other "
                                      "than printable ASCII)");
  char final[600];
  int n = snprintf(final, sizeof final, "%s/api-key", dir);
  if (n < 0 || (size_t)n >= sizeof final)
    return th_err_set(err, TH_EINVAL, "Phala Cloud: key directory path too long");
  /* phala 1.0 created the directory 0755: tighten it, it holds secrets. No trailing newline,
   * like phala 1.0.35 writes the key. */
  if (th_secret_dir(&WORDS, dir, 1, err) != 0 ||
      th_secret_write(&WORDS, dir, "api-key", key, strlen(key), err) != 0)
    return -1;
  return 0;
}

int th_phala_key_delete(const char *dir, th_err *err) {
  char path[600];
  int n = snprintf(path, sizeof path, "%s/api-key", dir);
  if (n < 0 || (size_t)n >= sizeof path) return th_err_set(err, TH_EINVAL, "Phala Cloud: key directory path too long");
  if (unlink(path) == 0) return 1;
  if (errno == ENOENT) return 0;
  return th_err_set(err, TH_EIO, "Phala Cloud: cannot remove %s: %s", path, strerror(errno));
}
