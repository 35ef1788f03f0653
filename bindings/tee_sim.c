/* bindings/tee_sim.c — serving the simulator, for `teehost simulator start` (and scripts):
 *   tee.simulator_serve{socket=, port=, reset=, pid_file=} -> server | nil, msg, code
 *       serves this host's simulator (core/simulator: both APIs on every listener) on a Unix
 *       socket and/or 127.0.0.1:port (0 = any free port); server:port(), server:socket(),
 *       server:close(). SIGTERM stops it like Ctrl-C: listeners closed, socket and pid file
 *       removed, the process exits once nothing else runs.
 *   tee.simulator_spawn(args, log_path) -> pid   starts `teehost <args…>` detached (own session,
 *       stdin /dev/null, stdout and stderr appended to log_path, created 0600)
 *   tee.simulator_alive(pid) -> boolean          tee.simulator_terminate(pid) -> boolean (SIGTERM)
 *   tee.simulator_kms_root() -> hex | nil, msg   the in-process simulator's KMS root public key
 *   tee.simulator_dir() -> $TEEHOST_HOME/simulator (made 0700)   tee.simulator_pid() -> getpid()
 * The server is a tracked resource of the host (closed on shutdown and Ctrl-C); its memory is
 * freed in libuv close callbacks, never in __gc directly. */
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "secret_file.h"
#include "tee_internal.h"

#define SERVER_MT "teehost.SimulatorServer"

typedef struct sim_server {
  th_resource res;
  th_host *host;
  th_simulator_server *srv; /* NULL once closed */
  uv_signal_t *sigterm;     /* malloc'd, freed in its close callback */
  char *socket, *pid_file;
  int port;
} sim_server;

static void free_handle(uv_handle_t *h) {
  free(h);
}

static void server_close(sim_server *s) {
  if (!s->srv) return;
  th_simulator_server_close(s->srv); /* unlinks the socket file it created */
  s->srv = NULL;
  if (s->sigterm) uv_close((uv_handle_t *)s->sigterm, free_handle);
  s->sigterm = NULL;
  if (s->pid_file) unlink(s->pid_file);
  th_host_untrack(s->host, &s->res);
}

static void server_resource_close(th_resource *r) {
  server_close((sim_server *)r);
}

static void on_sigterm(uv_signal_t *h, int signum) {
  (void)signum;
  sim_server *s = h->data;
  th_host_cancel_all(s->host); /* closes this server too: it is a tracked resource */
}

static sim_server *check_server(lua_State *L) {
  return luaL_checkudata(L, 1, SERVER_MT);
}

static int server_gc(lua_State *L) {
  sim_server *s = check_server(L);
  server_close(s);
  free(s->socket);
  free(s->pid_file);
  s->socket = s->pid_file = NULL;
  return 0;
}

static int server_close_l(lua_State *L) {
  server_close(check_server(L));
  return 0;
}

static int server_port(lua_State *L) {
  sim_server *s = check_server(L);
  if (s->port < 0) lua_pushnil(L);
  else lua_pushinteger(L, s->port);
  return 1;
}

static int server_socket(lua_State *L) {
  sim_server *s = check_server(L);
  lua_pushstring(L, s->socket);
  return 1;
}

static int server_tostring(lua_State *L) {
  sim_server *s = check_server(L);
  lua_pushfstring(L, "tee.SimulatorServer<%s port %d%s>", s->socket ? s->socket : "no socket", s->port,
                  s->srv ? "" : " closed");
  return 1;
}

static int write_pid_file(const char *path, int pid, const char *socket, int port, th_err *err) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.%d.tmp", path, pid);
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return th_err_set(err, TH_EIO, "pid file %s: %s", tmp, strerror(errno));
  char buf[4400];
  int n = snprintf(buf, sizeof buf, "%d\n%s\n%d\n", pid, socket ? socket : "", port);
  int ok = n > 0 && (size_t)n < sizeof buf && write(fd, buf, (size_t)n) == n;
  ok = close(fd) == 0 && ok;
  if (!ok || rename(tmp, path) != 0) {
    unlink(tmp);
    return th_err_set(err, TH_EIO, "pid file %s: %s", path, strerror(errno));
  }
  return 0;
}

static int l_serve(lua_State *L) {
  static const char *const known[] = {"socket", "port", "reset", "pid_file", NULL};
  const char *fn = "tee.simulator_serve";
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  th_check_options(L, 1, fn, known);
  lua_getfield(L, 1, "socket");
  const char *socket = luaL_optstring(L, -1, NULL);
  lua_getfield(L, 1, "port");
  lua_Integer port = luaL_optinteger(L, -1, -1);
  lua_getfield(L, 1, "reset");
  int reset = lua_toboolean(L, -1);
  lua_getfield(L, 1, "pid_file");
  const char *pid_file = luaL_optstring(L, -1, NULL);
  if (port < -1 || port > 65535) return luaL_error(L, "%s: port must be 0..65535 (0 = any free port)", fn);
  if (!socket && port < 0) return luaL_error(L, "%s: give socket= and/or port=", fn);

  tee_state *st = tee_state_get(L);
  th_err err = {0};
  th_simulator_opts o = {0};
  o.reset = reset;
  if (!tee_simulator(st, &o, &err)) return th_push_failure(L, &err);
  sim_server *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->host = st->host;
  s->res.close = server_resource_close;
  luaL_setmetatable(L, SERVER_MT);
  uv_loop_t *loop = th_loop_uv(st->host->loop);
  if (!(s->srv = th_simulator_serve(st->sim, loop, socket, (int)port, &err))) return th_push_failure(L, &err);
  th_host_track(st->host, &s->res);
  s->port = th_simulator_server_port(s->srv);
  s->socket = socket ? strdup(socket) : NULL;
  if (pid_file) {
    if (write_pid_file(pid_file, (int)getpid(), socket, s->port, &err) != 0) {
      server_close(s);
      return th_push_failure(L, &err);
    }
    s->pid_file = strdup(pid_file);
  }
  if ((s->sigterm = malloc(sizeof *s->sigterm)) && uv_signal_init(loop, s->sigterm) == 0) {
    s->sigterm->data = s;
    uv_signal_start(s->sigterm, on_sigterm, SIGTERM);
    uv_unref((uv_handle_t *)s->sigterm); /* the listeners keep the loop alive, not the signal */
  } else {
    free(s->sigterm);
    s->sigterm = NULL;
  }
  return 1;
}

static void spawn_closed(uv_handle_t *h) {
  free(h);
}

static int l_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  const char *log_path = luaL_checkstring(L, 2);
  int n = (int)luaL_len(L, 1);
  if (n < 1 || n > 32) return luaL_error(L, "tee.simulator_spawn: 1..32 arguments");
  char *args[35];
  args[0] = "teehost";
  for (int i = 1; i <= n; i++) {
    lua_geti(L, 1, i);
    if (!lua_isstring(L, -1)) return luaL_error(L, "tee.simulator_spawn: argument %d is not a string", i);
    args[i] = (char *)lua_tostring(L, -1); /* kept alive on the stack until the spawn */
  }
  args[n + 1] = NULL;
  int logfd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (logfd < 0) {
    th_err err;
    th_err_set(&err, TH_EIO, "simulator log %s: %s", log_path, strerror(errno));
    return th_push_failure(L, &err);
  }
  uv_stdio_container_t stdio[3] = {{.flags = UV_IGNORE},
                                   {.flags = UV_INHERIT_FD, .data.fd = logfd},
                                   {.flags = UV_INHERIT_FD, .data.fd = logfd}};
  uv_process_options_t o = {0};
  o.file = "/proc/self/exe";
  o.args = args;
  o.flags = UV_PROCESS_DETACHED;
  o.stdio = stdio;
  o.stdio_count = 3;
  uv_process_t *p = malloc(sizeof *p);
  th_host *host = th_host_of(L);
  int rc = p ? uv_spawn(th_loop_uv(host->loop), p, &o) : UV_ENOMEM;
  close(logfd);
  if (rc != 0) {
    if (p) uv_close((uv_handle_t *)p, spawn_closed); /* initialised even when the spawn failed */
    th_err err;
    th_err_set(&err, TH_EIO, "cannot start the simulator: %s", uv_strerror(rc));
    return th_push_failure(L, &err);
  }
  int pid = p->pid;
  uv_unref((uv_handle_t *)p);
  uv_close((uv_handle_t *)p, spawn_closed); /* we never wait for it: it outlives us */
  lua_pushinteger(L, pid);
  return 1;
}

static int l_alive(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  lua_pushboolean(L, pid > 0 && (kill((pid_t)pid, 0) == 0 || errno == EPERM));
  return 1;
}

static int l_terminate(lua_State *L) {
  lua_Integer pid = luaL_checkinteger(L, 1);
  lua_pushboolean(L, pid > 0 && kill((pid_t)pid, SIGTERM) == 0);
  return 1;
}

/* $TEEHOST_HOME/simulator, created 0700 (a group- or world-accessible one is refused). */
static int l_dir(lua_State *L) {
  static const th_secret_words words = {"simulator", "is accessible by group or others", 4,
                                        "it holds the simulator's keys"};
  char home[4096], dir[4200];
  th_err err = {0};
  if (th_host_home(home, sizeof home, &err) != 0) return th_push_failure(L, &err);
  snprintf(dir, sizeof dir, "%s/simulator", home);
  if (th_secret_dir(&words, dir, 0, &err) != 0) return th_push_failure(L, &err);
  lua_pushstring(L, dir);
  return 1;
}

static int l_pid(lua_State *L) {
  lua_pushinteger(L, (lua_Integer)getpid());
  return 1;
}

static int l_kms_root(lua_State *L) {
  th_err err = {0};
  th_simulator *sim = tee_simulator(tee_state_get(L), NULL, &err);
  if (!sim) return th_push_failure(L, &err);
  tee_push_hex(L, th_simulator_kms_root(sim), 33);
  return 1;
}

int tee_open_sim(lua_State *L) {
  static const luaL_Reg methods[] = {{"close", server_close_l}, {"port", server_port},
                                     {"socket", server_socket}, {NULL, NULL}};
  luaL_newmetatable(L, SERVER_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, server_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, server_gc);
  lua_setfield(L, -2, "__close");
  lua_pushcfunction(L, server_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  static const luaL_Reg fns[] = {{"simulator_serve", l_serve},   {"simulator_spawn", l_spawn},
                                 {"simulator_alive", l_alive},   {"simulator_terminate", l_terminate},
                                 {"simulator_kms_root", l_kms_root}, {"simulator_dir", l_dir},
                                 {"simulator_pid", l_pid},       {NULL, NULL}};
  luaL_setfuncs(L, fns, 0);
  return 0;
}
