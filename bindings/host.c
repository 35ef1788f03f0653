/* bindings/host.c — creating, running and tearing down the Lua host. See host.h.
 *
 * The Lua state uses our allocator so that th_host_of(L) is a pointer read (the allocator's
 * user data) and so that the host knows how much memory Lua holds. Modules written in Lua
 * (the .lua files under scripts/) are found by a searcher placed right after package.preload: with
 * TEEHOST_PATH set they are read from that directory, otherwise from the copies embedded at
 * build time. */
#include "host.h"

#include <errno.h>
#include <lauxlib.h>
#include <lualib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "embedded.h"
#include "interrupt.h"
#include "modules.h"
#include "scheduler.h"
#include "task.h"

static void *host_alloc(void *ud, void *ptr, size_t osize, size_t nsize) {
  th_host *host = ud;
  if (nsize == 0) {
    if (ptr) host->lua_bytes -= osize;
    free(ptr);
    return NULL;
  }
  void *p = realloc(ptr, nsize);
  if (p) host->lua_bytes += nsize - (ptr ? osize : 0);
  return p;
}

static int host_panic(lua_State *L) {
  const char *msg = lua_tostring(L, -1);
  fprintf(stderr, "teehost: PANIC: unprotected error in Lua: %s\n", msg ? msg : "?");
  return 0; /* Lua aborts */
}

static void host_warn(void *ud, const char *msg, int tocont) {
  (void)ud;
  (void)tocont;
  if (msg[0] == '@') return; /* "@on"/"@off": warnings are always shown */
  fprintf(stderr, "teehost: warning: %s\n", msg);
}

int th_push_failure(lua_State *L, const th_err *err) {
  lua_pushnil(L);
  lua_pushstring(L, err->message);
  lua_pushstring(L, th_err_name(err->code));
  return 3;
}

void th_host_report(const char *msg) {
  fflush(stdout);
  fprintf(stderr, "teehost: %s\n", msg);
}

int th_host_load_embedded(lua_State *L, const char *path) {
  const char *root = getenv("TEEHOST_PATH");
  if (root && *root) {
    lua_pushfstring(L, "%s/%s", root, path);
    const char *full = lua_tostring(L, -1);
    if (access(full, R_OK) == 0) {
      int rc = luaL_loadfile(L, full);
      lua_remove(L, -2);
      return rc;
    }
    lua_pop(L, 1);
  }
  for (const th_embedded_file *f = th_embedded; f->path; f++) {
    if (strcmp(f->path, path) == 0) {
      lua_pushfstring(L, "@%s", path);
      int rc = luaL_loadbuffer(L, f->data, f->len, lua_tostring(L, -1));
      lua_remove(L, -2);
      return rc;
    }
  }
  lua_pushfstring(L, "no embedded file '%s'", path);
  return LUA_ERRFILE;
}

/* package.searchers entry: require "a.b" -> scripts/a/b.lua or scripts/a/b/init.lua. */
static int search_embedded(lua_State *L) {
  const char *name = luaL_checkstring(L, 1);
  const char *base = luaL_gsub(L, name, ".", "/");
  static const char *const forms[] = {"scripts/%s.lua", "scripts/%s/init.lua"};
  for (size_t i = 0; i < sizeof forms / sizeof *forms; i++) {
    lua_pushfstring(L, forms[i], base);
    const char *path = lua_tostring(L, -1);
    int rc = th_host_load_embedded(L, path);
    if (rc == LUA_OK) {
      lua_pushstring(L, path);
      return 2;
    }
    if (rc != LUA_ERRFILE) return luaL_error(L, "error loading module '%s' from %s:\n\t%s", name, path, lua_tostring(L, -1));
    lua_pop(L, 2);
  }
  lua_pushfstring(L, "no embedded module 'scripts/%s.lua'", base);
  return 1;
}

/* package.embedded(path) -> the text of a file compiled into the binary (or of $TEEHOST_PATH/path
 * when that is set), e.g. "characters/mr_tee.lua", for code that must not run it through
 * require (a character file runs in a sandbox); nil, message when there is none. */
static int l_embedded(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  const char *root = getenv("TEEHOST_PATH");
  if (root && *root) {
    lua_pushfstring(L, "%s/%s", root, path);
    FILE *f = fopen(lua_tostring(L, -1), "rb");
    if (f) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      char chunk[4096];
      size_t n;
      while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) luaL_addlstring(&b, chunk, n);
      fclose(f);
      luaL_pushresult(&b);
      return 1;
    }
    lua_pop(L, 1);
  }
  for (const th_embedded_file *f = th_embedded; f->path; f++)
    if (strcmp(f->path, path) == 0) {
      lua_pushlstring(L, f->data, f->len);
      return 1;
    }
  lua_pushnil(L);
  lua_pushfstring(L, "no embedded file '%s'", path);
  return 2;
}

static void install_searcher(lua_State *L) {
  lua_getglobal(L, "package");
  lua_pushcfunction(L, l_embedded);
  lua_setfield(L, -2, "embedded");
  lua_getfield(L, -1, "searchers");
  int n = (int)luaL_len(L, -1);
  for (int i = n; i >= 2; i--) { /* shift searchers 2..n up by one */
    lua_geti(L, -1, i);
    lua_seti(L, -2, i + 1);
  }
  lua_pushcfunction(L, search_embedded);
  lua_seti(L, -2, 2);
  lua_pop(L, 2);
}

static void on_interrupt_script(th_host *host) {
  host->exit_code = 130;
  fflush(stdout);
  fprintf(stderr, "\nteehost: interrupted\n");
  th_host_cancel_all(host);
}

th_host *th_host_new(th_err *err) {
  th_host *host = calloc(1, sizeof *host);
  if (!host) {
    th_err_set(err, TH_ENOMEM, "out of memory");
    return NULL;
  }
  host->loop = th_loop_new(err);
  if (!host->loop) {
    free(host);
    return NULL;
  }
  lua_State *L = lua_newstate(host_alloc, host);
  if (!L) {
    th_loop_free(host->loop);
    free(host);
    th_err_set(err, TH_ENOMEM, "cannot create the Lua state: out of memory");
    return NULL;
  }
  host->L = L;
  *(th_wait **)lua_getextraspace(L) = NULL;
  lua_atpanic(L, host_panic);
  lua_setwarnf(L, host_warn, host);
  host->mode = TH_MODE_SCRIPT;
  host->on_interrupt = on_interrupt_script;
  th_sched_init(host);
  th_interrupt_install(host);
  luaL_openlibs(L);
  install_searcher(L);
  th_open_modules(L);
  return host;
}

void th_host_track(th_host *host, th_resource *r) {
  r->prev = NULL;
  r->next = host->resources;
  if (host->resources) host->resources->prev = r;
  host->resources = r;
}

void th_host_untrack(th_host *host, th_resource *r) {
  if (r->prev)
    r->prev->next = r->next;
  else if (host->resources == r)
    host->resources = r->next;
  if (r->next) r->next->prev = r->prev;
  r->prev = r->next = NULL;
}

th_http_client *th_host_http(th_host *host, th_err *err) {
  if (!host->http) host->http = th_http_client_new(th_loop_uv(host->loop), err);
  return host->http;
}

void th_host_cancel_all(th_host *host) {
  host->shutting_down = 1;
  while (host->tasks) th_task_cancel(host, host->tasks);
  while (host->waiting) th_wait_cancel(host, host->waiting);
  while (host->resources) host->resources->close(host->resources);
  uv_idle_stop(&host->idle);
}

void th_host_run(th_host *host) {
  th_loop_run(host->loop, UV_RUN_DEFAULT);
  if (host->interrupt_pending && host->on_interrupt) {
    /* Ctrl-C stopped the last Lua code before the loop saw the signal's wake-up. */
    host->on_interrupt(host);
    host->interrupt_pending = 0;
    th_loop_run(host->loop, UV_RUN_DEFAULT);
  }
  if (host->tasks && !host->shutting_down) {
    int n = 0;
    for (th_task *t = host->tasks; t; t = th_task_next(t)) n++;
    char msg[160];
    snprintf(msg, sizeof msg, "%d task(s) can never finish: each waits for something that no "
                              "longer can happen (e.g. a task joining itself in a cycle)", n);
    th_host_report(msg);
    if (!host->exit_code) host->exit_code = 1;
  }
}

void th_host_free(th_host *host) {
  if (!host) return;
  th_host_cancel_all(host);
  th_sched_drain_all(host);
  th_http_client_close(host->http);
  host->http = NULL;
  th_interrupt_uninstall(host);
  th_sched_close(host);
  lua_close(host->L);
  th_loop_free(host->loop);
  free(host);
}

int th_host_home(char *buf, size_t size, th_err *err) {
  const char *home = getenv("TEEHOST_HOME");
  int n;
  if (home && *home) {
    n = snprintf(buf, size, "%s", home);
  } else {
    const char *user_home = getenv("HOME");
    if (!user_home || !*user_home) return th_err_set(err, TH_EINVAL, "neither TEEHOST_HOME nor HOME is set");
    n = snprintf(buf, size, "%s/.teehost", user_home);
  }
  if (n < 0 || (size_t)n >= size) return th_err_set(err, TH_EINVAL, "TEEHOST_HOME path too long");
  if (mkdir(buf, 0700) != 0 && errno != EEXIST)
    return th_err_set(err, TH_EIO, "cannot create %s: %s", buf, strerror(errno));
  struct stat st;
  if (stat(buf, &st) != 0) return th_err_set(err, TH_EIO, "cannot read %s: %s", buf, strerror(errno));
  if (!S_ISDIR(st.st_mode)) return th_err_set(err, TH_EINVAL, "%s is not a directory", buf);
  if (st.st_mode & 077)
    return th_err_set(err, TH_EINVAL,
                      "%s is accessible by group or others (mode %03o); it holds secrets: "
                      "fix with `chmod 700 %s`", buf, (unsigned)(st.st_mode & 0777), buf);
  return 0;
}

void th_check_options(lua_State *L, int idx, const char *fn, const char *const *known) {
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    lua_pop(L, 1);
    int ok = 0;
    if (lua_type(L, -1) == LUA_TSTRING)
      for (const char *const *k = known; *k && !ok; k++) ok = strcmp(lua_tostring(L, -1), *k) == 0;
    if (!ok) {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (const char *const *k = known; *k; k++) {
        luaL_addstring(&b, *k);
        if (k[1]) luaL_addstring(&b, ", ");
      }
      luaL_pushresult(&b);
      const char *valid = lua_tostring(L, -1);
      const char *key = luaL_tolstring(L, -2, NULL); /* in order: C does not order arguments */
      luaL_error(L, "%s: unknown option '%s' (valid: %s)", fn, key, valid);
    }
  }
}
