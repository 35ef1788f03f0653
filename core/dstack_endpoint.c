/* core/dstack_endpoint.c — which dstack agent teehost talks to (DESIGN.md "The TEE endpoint",
 * shared/specs/dstack.md 1.1, shared/specs/eliza-tee.md 2) and the one line that reports it.
 *
 * Owns nothing: a pure function of the explicit --tee value, the environment and which default
 * sockets exist, both injected (getenv/exists callbacks) so the rules can be tested without
 * touching the process. Empty environment variables count as unset. TEE_MODE is checked even
 * when an explicit endpoint wins, so a typo is reported at start-up rather than ignored. An
 * endpoint is a URL when it starts with http:// or https://, else a Unix socket path that is NOT
 * checked here: the first call names the missing socket ("connect to …: No such file …"). */
#include "dstack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *const VALID_MODES =
    "PHALA_DSTACK, TDX_DSTACK, PRODUCTION, LOCAL, DOCKER, SIMULATOR, NONE, OFF";

static const char *const DSTACK_SOCKETS[] = {"/var/run/dstack.sock", "/run/dstack.sock",
                                             "/var/run/dstack/dstack.sock",
                                             "/run/dstack/dstack.sock"};
static const char *const TAPPD_SOCKETS[] = {"/var/run/tappd.sock", "/run/tappd.sock",
                                            "/var/run/dstack/tappd.sock",
                                            "/run/dstack/tappd.sock"};
#define NSOCKETS (sizeof DSTACK_SOCKETS / sizeof *DSTACK_SOCKETS)

typedef struct env_ctx {
  th_getenv_fn getenv_fn;
  void *env_ud;
  th_exists_fn exists_fn;
  void *exists_ud;
} env_ctx;

static const char *env_get(const env_ctx *c, const char *name) {
  const char *v = c->getenv_fn ? c->getenv_fn(c->env_ud, name) : getenv(name);
  return v && *v ? v : NULL;
}

static int path_exists(const env_ctx *c, const char *path) {
  return c->exists_fn ? c->exists_fn(c->exists_ud, path) : access(path, F_OK) == 0;
}

static int is_url(const char *s) {
  return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* A Unix socket path whose last component is tappd.sock speaks only the legacy API. */
static int is_tappd_path(const char *s) {
  const char *slash = strrchr(s, '/');
  return strcmp(slash ? slash + 1 : s, "tappd.sock") == 0;
}

static int set_target(th_tee_endpoint *out, int kind, const char *target, const char *source,
                      th_err *err) {
  if (strlen(target) >= sizeof out->target)
    return th_err_set(err, TH_EINVAL, "%s: endpoint longer than %zu bytes", source,
                      sizeof out->target - 1);
  out->kind = kind;
  snprintf(out->target, sizeof out->target, "%s", target);
  out->is_url = is_url(target);
  snprintf(out->source, sizeof out->source, "%s", source);
  return 0;
}

/* An explicit or environment endpoint: a tappd.sock path is legacy whatever named it. */
static int set_named(th_tee_endpoint *out, int kind, const char *target, const char *source,
                     th_err *err) {
  if (kind == TH_TEE_AGENT && !is_url(target) && is_tappd_path(target)) kind = TH_TEE_LEGACY;
  return set_target(out, kind, target, source, err);
}

/* The first existing default socket (dstack, then tappd); -1 when none exists. */
static int find_socket(const env_ctx *c, th_tee_endpoint *out, const char *source, th_err *err) {
  for (size_t i = 0; i < NSOCKETS; i++)
    if (path_exists(c, DSTACK_SOCKETS[i]))
      return set_target(out, TH_TEE_AGENT, DSTACK_SOCKETS[i], source, err);
  for (size_t i = 0; i < NSOCKETS; i++)
    if (path_exists(c, TAPPD_SOCKETS[i]))
      return set_target(out, TH_TEE_LEGACY, TAPPD_SOCKETS[i], source, err);
  return 1;
}

static int is_production(const char *mode) {
  return strcmp(mode, "PHALA_DSTACK") == 0 || strcmp(mode, "TDX_DSTACK") == 0 ||
         strcmp(mode, "PRODUCTION") == 0;
}

static int check_mode(const char *mode, th_err *err) {
  static const char *const modes[] = {"PHALA_DSTACK", "TDX_DSTACK", "PRODUCTION", "LOCAL",
                                      "DOCKER",       "SIMULATOR",  "NONE",       "OFF"};
  for (size_t i = 0; i < sizeof modes / sizeof *modes; i++)
    if (strcmp(mode, modes[i]) == 0) return 0;
  return th_err_set(err, TH_EINVAL, "TEE_MODE: invalid value '%.64s' (valid: %s)", mode,
                    VALID_MODES);
}

static int select_by_mode(const env_ctx *c, const char *mode, th_tee_endpoint *out,
                          th_err *err) {
  char source[64];
  snprintf(source, sizeof source, "TEE_MODE=%s", mode);
  if (is_production(mode)) {
    int rc = find_socket(c, out, source, err);
    return rc <= 0 ? rc : set_target(out, TH_TEE_AGENT, DSTACK_SOCKETS[0], source, err);
  }
  if (strcmp(mode, "LOCAL") == 0)
    return set_target(out, TH_TEE_AGENT, "http://localhost:8090", source, err);
  if (strcmp(mode, "DOCKER") == 0)
    return set_target(out, TH_TEE_AGENT, "http://host.docker.internal:8090", source, err);
  if (strcmp(mode, "SIMULATOR") == 0) return set_target(out, TH_TEE_BUILTIN, "", source, err);
  return set_target(out, TH_TEE_NONE, "", source, err); /* NONE, OFF */
}

int th_tee_endpoint_select(const char *explicit_tee, th_getenv_fn getenv_fn, void *env_ud,
                           th_exists_fn exists_fn, void *exists_ud, th_tee_endpoint *out,
                           th_err *err) {
  env_ctx c = {getenv_fn, env_ud, exists_fn, exists_ud};
  memset(out, 0, sizeof *out);
  const char *mode = env_get(&c, "TEE_MODE");
  if (mode) {
    if (check_mode(mode, err) != 0) return -1;
    snprintf(out->mode, sizeof out->mode, "%s", mode);
  }
  const char *v;
  if (explicit_tee && *explicit_tee) return set_named(out, TH_TEE_AGENT, explicit_tee, "--tee", err);
  if ((v = env_get(&c, "DSTACK_SIMULATOR_ENDPOINT")))
    return set_named(out, TH_TEE_AGENT, v, "DSTACK_SIMULATOR_ENDPOINT", err);
  if ((v = env_get(&c, "TAPPD_SIMULATOR_ENDPOINT")))
    return set_target(out, TH_TEE_LEGACY, v, "TAPPD_SIMULATOR_ENDPOINT", err);
  if (mode) return select_by_mode(&c, mode, out, err);
  int rc = find_socket(&c, out, "default", err);
  return rc <= 0 ? rc : set_target(out, TH_TEE_BUILTIN, "", "default", err);
}

void th_tee_endpoint_describe(const th_tee_endpoint *ep, char *buf, size_t size) {
  if (!buf || size == 0) return;
  char why[80] = "";
  if (strcmp(ep->source, "default") != 0 && ep->source[0])
    snprintf(why, sizeof why, " (%s)", ep->source);
  switch (ep->kind) {
  case TH_TEE_AGENT:
    snprintf(buf, size, "tee: dstack at %s%s", ep->target, why);
    break;
  case TH_TEE_LEGACY:
    snprintf(buf, size, "tee: legacy tappd at %s%s", ep->target, why);
    break;
  case TH_TEE_BUILTIN:
    snprintf(buf, size, "tee: built-in simulator (quotes are NOT trusted by Intel's root)");
    break;
  case TH_TEE_NONE:
    snprintf(buf, size, "tee: none (TEE_MODE=%s)", ep->mode[0] ? ep->mode : "NONE");
    break;
  default:
    snprintf(buf, size, "tee: unknown endpoint kind %d", ep->kind);
  }
}
