/* bindings/http.c — the Lua `http` module: http.request (client) and http.serve (server).
 *
 * http.request pins the calling coroutine until core/http_client delivers; http.serve hands
 * every request to its handler in a task of its own, so handlers may await anything. The
 * conversion between Lua tables and the core's structs happens here and only here. */
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <stddef.h>
#include <string.h>
#include <strings.h>

#include "http_client.h"
#include "http_server.h"
#include "modules.h"
#include "scheduler.h"
#include "task.h"

#define SERVER_MT "teehost.HttpServer"
#define DEFAULT_TIMEOUT_S 60.0

/* ---- helpers ---- */

static const char *opt_string(lua_State *L, int idx, const char *fn, const char *key, size_t *len) {
  int t = lua_getfield(L, idx, key);
  const char *s = NULL;
  if (t == LUA_TSTRING || t == LUA_TNUMBER)
    s = lua_tolstring(L, -1, len);
  else if (t != LUA_TNIL)
    luaL_error(L, "%s: option '%s' must be a string, got %s", fn, key, luaL_typename(L, -1));
  lua_pop(L, 1); /* the string stays alive in the options table */
  return s;
}

static lua_Number opt_number(lua_State *L, int idx, const char *fn, const char *key, lua_Number dflt) {
  int t = lua_getfield(L, idx, key);
  lua_Number n = dflt;
  if (t == LUA_TNUMBER)
    n = lua_tonumber(L, -1);
  else if (t != LUA_TNIL)
    luaL_error(L, "%s: option '%s' must be a number, got %s", fn, key, luaL_typename(L, -1));
  lua_pop(L, 1);
  return n;
}

/* Pushes a table name -> value for headers; repeated names are joined with ", ". */
static void push_header_table(lua_State *L, const th_http_header *h, size_t n) {
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    if (lua_getfield(L, -1, h[i].name) == LUA_TSTRING) {
      lua_pushliteral(L, ", ");
      lua_pushstring(L, h[i].value);
      lua_concat(L, 3);
    } else {
      lua_pop(L, 1);
      lua_pushstring(L, h[i].value);
    }
    lua_setfield(L, -2, h[i].name);
  }
}

/* Reads a header table (name -> string, or name -> list of strings) at idx into a malloc'd
 * array whose strings are borrowed from the table. On a bad table returns NULL with the reason
 * in `problem` (and the stack as it was), so callers that must not raise can answer instead. */
static th_http_header *read_header_table(lua_State *L, int idx, size_t *count, char *problem,
                                         size_t psize) {
  size_t n = 0, cap = 8;
  th_http_header *h = malloc(cap * sizeof *h);
  int top = lua_gettop(L);
  if (!h) goto nomem;
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    if (lua_type(L, -2) != LUA_TSTRING) {
      snprintf(problem, psize, "header names must be strings, got %s", luaL_typename(L, -2));
      goto fail;
    }
    int nvalues = lua_istable(L, -1) ? (int)luaL_len(L, -1) : 1;
    for (int i = 1; i <= nvalues; i++) {
      if (lua_istable(L, -1)) lua_geti(L, -1, i);
      else lua_pushvalue(L, -1);
      /* A number would be converted in place on this copy only: require real strings, so
       * the pointer kept below stays owned by the table. */
      if (lua_type(L, -1) != LUA_TSTRING) {
        snprintf(problem, psize, "header '%s' must be a string, got %s%s", lua_tostring(L, -3),
                 luaL_typename(L, -1), lua_type(L, -1) == LUA_TNUMBER ? " (use tostring)" : "");
        goto fail;
      }
      if (n == cap) {
        th_http_header *g = realloc(h, (cap *= 2) * sizeof *h);
        if (!g) goto nomem;
        h = g;
      }
      h[n].name = (char *)lua_tostring(L, -3);
      h[n].value = (char *)lua_tostring(L, -1);
      n++;
      lua_pop(L, 1);
    }
    lua_pop(L, 1);
  }
  *count = n;
  return h;
nomem:
  snprintf(problem, psize, "out of memory");
fail:
  lua_settop(L, top);
  free(h);
  return NULL;
}

/* ---- http.request ---- */

typedef struct request_wait {
  th_wait w;
  th_http_call *call;
  th_http_response *res;
  th_err err;
} request_wait;

static void request_done(void *ud, th_http_response *res, const th_err *err) {
  request_wait *r = ud;
  r->call = NULL;
  r->res = res;
  if (err) r->err = *err;
  th_wait_ready(&r->w);
}

static int request_push(lua_State *co, th_wait *w) {
  request_wait *r = (request_wait *)w;
  if (!r->res) return th_push_failure(co, &r->err);
  lua_createtable(co, 0, 3);
  lua_pushinteger(co, r->res->status);
  lua_setfield(co, -2, "status");
  push_header_table(co, r->res->headers, r->res->nheaders);
  lua_setfield(co, -2, "headers");
  lua_pushlstring(co, r->res->body, r->res->body_len);
  lua_setfield(co, -2, "body");
  return 1;
}

static void request_release(th_wait *w, int in_flight) {
  request_wait *r = (request_wait *)w;
  if (in_flight && r->call) th_http_call_cancel(r->call);
  th_http_response_free(r->res);
  free(r);
}

/* http.request{method=, url=, unix_socket=, headers=, body=, timeout=} -> response | nil, msg, code */
static int l_request(lua_State *L) {
  static const char *const known[] = {"method", "url", "unix_socket", "headers", "body", "timeout", NULL};
  const char *fn = "http.request";
  if (lua_type(L, 1) == LUA_TSTRING) { /* http.request(url) is a GET */
    lua_createtable(L, 0, 1);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "url");
    lua_replace(L, 1);
  }
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  th_check_options(L, 1, fn, known);
  th_http_request_opts o = {0};
  o.method = opt_string(L, 1, fn, "method", NULL);
  o.url = opt_string(L, 1, fn, "url", NULL);
  if (!o.url) return luaL_error(L, "%s: option 'url' is required", fn);
  o.unix_socket = opt_string(L, 1, fn, "unix_socket", NULL);
  o.body = opt_string(L, 1, fn, "body", &o.body_len);
  lua_Number timeout = opt_number(L, 1, fn, "timeout", DEFAULT_TIMEOUT_S);
  if (!(timeout >= 0)) return luaL_error(L, "%s: timeout must be >= 0 seconds (0 = none)", fn);
  o.timeout_ms = (long)(timeout * 1000.0 + 0.5);
  th_wait_check(L, fn);
  th_http_header *headers = NULL;
  char problem[160];
  if (lua_getfield(L, 1, "headers") == LUA_TTABLE) {
    if (!(headers = read_header_table(L, 2, &o.nheaders, problem, sizeof problem)))
      return luaL_error(L, "%s: %s", fn, problem);
  } else if (!lua_isnil(L, 2))
    return luaL_error(L, "%s: option 'headers' must be a table, got %s", fn, luaL_typename(L, 2));
  o.headers = headers;

  th_err err = {0};
  th_http_client *client = th_host_http(th_host_of(L), &err);
  request_wait *r = client ? calloc(1, sizeof *r) : NULL;
  if (!r) {
    free(headers);
    if (!client) return th_push_failure(L, &err);
    return luaL_error(L, "%s: out of memory", fn);
  }
  r->w.what = fn;
  r->w.push = request_push;
  r->w.release = request_release;
  r->call = th_http_request(client, &o, request_done, r, &err);
  free(headers);
  if (!r->call) {
    free(r);
    if (err.code == TH_EINVAL) return luaL_error(L, "%s: %s", fn, err.message);
    return th_push_failure(L, &err);
  }
  return th_wait_yield(L, &r->w);
}

/* ---- http.serve ---- */

typedef struct server {
  th_host *host;
  th_http_server *srv;
  th_resource res;
  th_job dispatch;      /* posted while `queued` is not empty */
  int dispatch_posted;
  struct queued_req *queued, *queued_tail;
  int handler_ref, self_ref;
  int closed;
  char *label;          /* "127.0.0.1:8080 /tmp/x.sock", for messages */
} server;

typedef struct queued_req {
  th_http_req *req;
  struct queued_req *next;
} queued_req;

typedef struct handler_ctx {
  th_http_req *req;
  char what[96]; /* "GET /path", for the log */
} handler_ctx;

static void respond_text(th_http_req *req, int status, const char *text) {
  th_http_header h = {"content-type", "text/plain; charset=utf-8"};
  th_http_req_respond(req, status, &h, 1, text, strlen(text), NULL);
}

static void handler_log(handler_ctx *ctx, const char *msg) {
  char line[512];
  snprintf(line, sizeof line, "http: %s: %s", ctx->what, msg);
  th_host_report(line);
}

/* Turns the handler's first result (on top of co) into the HTTP answer. */
static void respond_from_lua(lua_State *co, handler_ctx *ctx) {
  th_http_req *req = ctx->req;
  if (lua_type(co, -1) == LUA_TSTRING) {
    size_t len;
    const char *body = lua_tolstring(co, -1, &len);
    th_http_header h = {"content-type", "text/plain; charset=utf-8"};
    th_http_req_respond(req, 200, &h, 1, body, len, NULL);
    return;
  }
  if (!lua_istable(co, -1)) {
    char msg[128];
    snprintf(msg, sizeof msg, "handler returned %s (want a table {status=, headers=, body=} or a string)",
             luaL_typename(co, -1));
    handler_log(ctx, msg);
    respond_text(req, 500, "internal server error: bad handler result\n");
    return;
  }
  int t = lua_gettop(co);
  lua_Integer status = 200;
  if (lua_getfield(co, t, "status") != LUA_TNIL) status = lua_tointeger(co, -1);
  lua_pop(co, 1);
  size_t len = 0;
  const char *body = "";
  int has_json = lua_getfield(co, t, "json") != LUA_TNIL;
  if (has_json) { /* json = value: encoded with the json module */
    lua_getglobal(co, "json");
    lua_getfield(co, -1, "encode");
    lua_pushvalue(co, -3);
    if (lua_pcall(co, 1, 1, 0) != LUA_OK) {
      handler_log(ctx, lua_tostring(co, -1));
      lua_settop(co, t);
      respond_text(req, 500, "internal server error: response not encodable as JSON\n");
      return;
    }
    body = lua_tolstring(co, -1, &len); /* kept on the stack until we respond */
  } else {
    lua_pop(co, 1);
    if (lua_getfield(co, t, "body") == LUA_TSTRING) body = lua_tolstring(co, -1, &len);
    else if (!lua_isnil(co, -1)) {
      handler_log(ctx, "handler's body must be a string");
      lua_settop(co, t);
      respond_text(req, 500, "internal server error: bad handler result\n");
      return;
    }
  }
  th_http_header *headers = NULL;
  size_t nheaders = 0;
  int htab = lua_getfield(co, t, "headers");
  if (htab != LUA_TNIL) {
    char problem[160] = "handler's headers must be a table";
    if (htab != LUA_TTABLE ||
        !(headers = read_header_table(co, lua_gettop(co), &nheaders, problem, sizeof problem))) {
      handler_log(ctx, problem);
      lua_settop(co, t);
      respond_text(req, 500, "internal server error: bad handler result\n");
      return;
    }
  }
  size_t extra = has_json ? 1 : 0;
  th_http_header *all = malloc((nheaders + extra + 1) * sizeof *all);
  if (!all) {
    free(headers);
    lua_settop(co, t);
    th_http_req_drop(req);
    return;
  }
  size_t n = 0;
  int has_ct = 0;
  for (size_t i = 0; i < nheaders; i++) {
    all[n++] = headers[i];
    has_ct = has_ct || strcasecmp(headers[i].name, "content-type") == 0;
  }
  if (has_json && !has_ct) all[n++] = (th_http_header){"content-type", "application/json"};
  th_err err = {0};
  if (th_http_req_respond(req, (int)status, all, n, body, len, &err) != 0 && err.code == TH_EINVAL)
    handler_log(ctx, err.message);
  free(all);
  free(headers);
  lua_settop(co, t);
}

static void handler_done(th_host *host, th_task *t, lua_State *co, int ok, int nres, void *ud) {
  (void)host;
  (void)t;
  handler_ctx *ctx = ud;
  if (ok) {
    if (nres == 0) lua_pushnil(co);
    else if (nres > 1) lua_pop(co, nres - 1);
    respond_from_lua(co, ctx);
    if (nres == 0) lua_pop(co, 1);
  } else {
    const char *msg = lua_tostring(co, -1);
    if (msg && strcmp(msg, "task cancelled") == 0) {
      th_http_req_drop(ctx->req);
    } else {
      handler_log(ctx, msg ? msg : "handler raised a non-string error");
      respond_text(ctx->req, 500, "internal server error\n");
    }
  }
  free(ctx);
}

static void push_request_table(lua_State *L, th_http_req *req) {
  size_t n, len;
  lua_createtable(L, 0, 8);
  lua_pushstring(L, th_http_req_method(req));
  lua_setfield(L, -2, "method");
  lua_pushstring(L, th_http_req_path(req));
  lua_setfield(L, -2, "path");
  lua_pushstring(L, th_http_req_query_string(req));
  lua_setfield(L, -2, "query_string");
  const th_http_header *q = th_http_req_query(req, &n);
  lua_createtable(L, 0, (int)n);
  for (size_t i = 0; i < n; i++) {
    lua_pushstring(L, q[i].value ? q[i].value : "");
    lua_setfield(L, -2, q[i].name);
  }
  lua_setfield(L, -2, "query");
  const th_http_header *h = th_http_req_headers(req, &n);
  push_header_table(L, h, n);
  lua_setfield(L, -2, "headers");
  const char *body = th_http_req_body(req, &len);
  lua_pushlstring(L, body ? body : "", body ? len : 0);
  lua_setfield(L, -2, "body");
  lua_pushstring(L, th_http_req_peer(req));
  lua_setfield(L, -2, "peer");
}

static void start_handler(server *s, th_http_req *req) {
  lua_State *L = s->host->L;
  handler_ctx *ctx = malloc(sizeof *ctx);
  if (!ctx) {
    th_http_req_drop(req);
    return;
  }
  ctx->req = req;
  snprintf(ctx->what, sizeof ctx->what, "%s %s", th_http_req_method(req), th_http_req_path(req));
  lua_rawgeti(L, LUA_REGISTRYINDEX, s->handler_ref);
  push_request_table(L, req);
  th_task_spawn(L, 1, handler_done, ctx);
  lua_pop(L, 1);
}

/* Runs at a safe point: every request queued since the last pass gets its handler task. */
static void dispatch(th_host *host, th_job *job) {
  server *s = (server *)((char *)job - offsetof(server, dispatch));
  s->dispatch_posted = 0;
  queued_req *q = s->queued;
  s->queued = s->queued_tail = NULL;
  while (q) {
    queued_req *next = q->next;
    if (host->shutting_down) th_http_req_drop(q->req);
    else start_handler(s, q->req);
    free(q);
    q = next;
  }
}

/* libmicrohttpd context: no Lua here, just queue the request. */
static void on_request(void *ud, th_http_req *req) {
  server *s = ud;
  queued_req *q = malloc(sizeof *q);
  if (!q) {
    th_http_req_drop(req);
    return;
  }
  q->req = req;
  q->next = NULL;
  if (s->queued_tail) s->queued_tail->next = q;
  else s->queued = q;
  s->queued_tail = q;
  if (!s->dispatch_posted) {
    s->dispatch_posted = 1;
    th_sched_post(s->host, &s->dispatch);
  }
}

static void server_close(server *s) {
  if (s->closed) return;
  s->closed = 1;
  th_host *host = s->host;
  if (s->dispatch_posted) th_sched_unpost(host, &s->dispatch);
  s->dispatch_posted = 0;
  while (s->queued) {
    queued_req *q = s->queued;
    s->queued = q->next;
    th_http_req_drop(q->req);
    free(q);
  }
  s->queued_tail = NULL;
  th_http_server_close(s->srv);
  s->srv = NULL;
  th_host_untrack(host, &s->res);
  luaL_unref(host->L, LUA_REGISTRYINDEX, s->handler_ref);
  luaL_unref(host->L, LUA_REGISTRYINDEX, s->self_ref);
  s->handler_ref = s->self_ref = LUA_NOREF;
}

static void server_resource_close(th_resource *r) {
  server_close((server *)((char *)r - offsetof(server, res)));
}

static server *check_server(lua_State *L) { return luaL_checkudata(L, 1, SERVER_MT); }

static int server_gc(lua_State *L) {
  server *s = check_server(L);
  server_close(s);
  free(s->label);
  s->label = NULL;
  return 0;
}

static int server_close_l(lua_State *L) {
  server_close(check_server(L));
  return 0;
}

static int server_port(lua_State *L) {
  server *s = check_server(L);
  if (s->closed) return luaL_error(L, "http.Server: attempt to use a closed server");
  int port = th_http_server_port(s->srv);
  if (port < 0) return lua_pushnil(L), 1;
  lua_pushinteger(L, port);
  return 1;
}

static int server_tostring(lua_State *L) {
  server *s = check_server(L);
  lua_pushfstring(L, "http.Server<%s%s>", s->label ? s->label : "?", s->closed ? " closed" : "");
  return 1;
}

/* http.serve{host=, port=, unix_socket=, handler=, max_body=, max_header=, idle_timeout=}
 * -> server | nil, msg, code */
static int l_serve(lua_State *L) {
  static const char *const known[] = {"host", "port", "unix_socket", "handler", "max_body",
                                      "max_header", "idle_timeout", NULL};
  const char *fn = "http.serve";
  luaL_checktype(L, 1, LUA_TTABLE);
  lua_settop(L, 1);
  th_check_options(L, 1, fn, known);
  th_http_server_opts o = {0};
  o.host = opt_string(L, 1, fn, "host", NULL);
  o.unix_socket = opt_string(L, 1, fn, "unix_socket", NULL);
  lua_Number port = opt_number(L, 1, fn, "port", -1);
  if (port != -1 && !(port >= 0 && port <= 65535 && port == (int)port))
    return luaL_error(L, "%s: port must be an integer 0..65535 (0 = any free port)", fn);
  o.port = (int)port;
  if (o.port < 0 && !o.unix_socket) return luaL_error(L, "%s: give port= and/or unix_socket=", fn);
  o.max_body_bytes = (size_t)opt_number(L, 1, fn, "max_body", 0);
  o.max_header_bytes = (size_t)opt_number(L, 1, fn, "max_header", 0);
  o.idle_timeout_s = (unsigned)opt_number(L, 1, fn, "idle_timeout", 0);
  if (lua_getfield(L, 1, "handler") != LUA_TFUNCTION)
    return luaL_error(L, "%s: option 'handler' must be a function, got %s", fn, luaL_typename(L, -1));

  th_host *host = th_host_of(L);
  server *s = lua_newuserdatauv(L, sizeof *s, 0);
  memset(s, 0, sizeof *s);
  s->host = host;
  s->handler_ref = s->self_ref = LUA_NOREF;
  s->closed = 1; /* until started */
  luaL_setmetatable(L, SERVER_MT);
  th_err err = {0};
  s->srv = th_http_server_start(th_loop_uv(host->loop), &o, on_request, s, &err);
  if (!s->srv) {
    if (err.code == TH_EINVAL) return luaL_error(L, "%s: %s", fn, err.message);
    return th_push_failure(L, &err);
  }
  s->closed = 0;
  s->dispatch.run = dispatch;
  s->res.close = server_resource_close;
  th_host_track(host, &s->res);
  lua_pushvalue(L, 2);
  s->handler_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_pushvalue(L, -1);
  s->self_ref = luaL_ref(L, LUA_REGISTRYINDEX); /* serving keeps it alive */
  int bound = th_http_server_port(s->srv);
  if (bound >= 0 && o.unix_socket)
    lua_pushfstring(L, "%s:%d %s", o.host ? o.host : "127.0.0.1", bound, o.unix_socket);
  else if (bound >= 0)
    lua_pushfstring(L, "%s:%d", o.host ? o.host : "127.0.0.1", bound);
  else
    lua_pushstring(L, o.unix_socket);
  s->label = strdup(lua_tostring(L, -1));
  lua_pop(L, 1);
  return 1;
}

int luaopen_http(lua_State *L) {
  static const luaL_Reg methods[] = {{"close", server_close_l}, {"port", server_port}, {NULL, NULL}};
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
  static const luaL_Reg funcs[] = {{"request", l_request}, {"serve", l_serve}, {NULL, NULL}};
  luaL_newlib(L, funcs);
  return 1;
}
