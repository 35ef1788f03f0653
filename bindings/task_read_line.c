/* bindings/task_read_line.c — task.read_line(prompt?): the next line of standard input, read
 * without blocking the loop (servers and other tasks keep running while a chat prompt waits).
 *
 * Returns the line without its newline, or nil at end of input (Ctrl-D, a closed pipe). The
 * prompt, when given, is written to stdout first. Standard input is watched with a uv_poll and
 * read only when readable, so its file mode is never changed (O_NONBLOCK on a terminal would
 * leak to the shell). Input that is not pollable (a regular file) is read directly: it never
 * waits. Bytes read past a newline are kept for the next call, in a per-host state in the
 * registry. One call at a time: a second concurrent reader is misuse and raises. */
#include <errno.h>
#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scheduler.h"
#include "task.h"

#define STATE_KEY "teehost.stdin_lines"

typedef struct line_op line_op;

typedef struct line_state {
  char *buf;       /* bytes read and not yet returned */
  size_t len, cap;
  int eof;
  line_op *reading; /* the call waiting, or NULL */
} line_state;

struct line_op {
  th_wait w;
  line_state *st;
  uv_poll_t *poll; /* malloc'd; freed in its close callback */
  char *line;      /* the result (NULL with done = end of input) */
  size_t line_len;
  int err;         /* errno of a failed read */
};

static int state_gc(lua_State *L) {
  line_state *st = lua_touserdata(L, 1);
  free(st->buf);
  st->buf = NULL;
  return 0;
}

static line_state *state_of(lua_State *L) {
  if (lua_getfield(L, LUA_REGISTRYINDEX, STATE_KEY) == LUA_TUSERDATA) {
    line_state *st = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return st;
  }
  lua_pop(L, 1);
  line_state *st = lua_newuserdatauv(L, sizeof *st, 0);
  memset(st, 0, sizeof *st);
  lua_createtable(L, 0, 1);
  lua_pushcfunction(L, state_gc);
  lua_setfield(L, -2, "__gc");
  lua_setmetatable(L, -2);
  lua_setfield(L, LUA_REGISTRYINDEX, STATE_KEY);
  return st;
}

/* Moves the first complete line (or, at end of input, the rest) out of the buffer into *line.
 * Returns 1 when there is one, 0 when more input is needed. */
static int take_line(line_state *st, char **line, size_t *len) {
  char *nl = st->len ? memchr(st->buf, '\n', st->len) : NULL;
  if (!nl && !(st->eof && st->len)) return 0;
  size_t n = nl ? (size_t)(nl - st->buf) : st->len;
  size_t used = nl ? n + 1 : n;
  if (n && st->buf[n - 1] == '\r') n--; /* a CRLF line */
  *line = malloc(n + 1);
  if (*line) {
    memcpy(*line, st->buf, n);
    (*line)[n] = 0;
    *len = n;
  }
  memmove(st->buf, st->buf + used, st->len - used);
  st->len -= used;
  return 1;
}

/* Reads what is available into the buffer: >0 bytes, 0 at end of input, -1 on error. */
static ssize_t fill(line_state *st) {
  if (st->cap - st->len < 4096) {
    size_t cap = st->cap ? st->cap * 2 : 8192;
    char *p = realloc(st->buf, cap);
    if (!p) return errno = ENOMEM, -1;
    st->buf = p;
    st->cap = cap;
  }
  ssize_t n;
  do n = read(0, st->buf + st->len, st->cap - st->len);
  while (n < 0 && errno == EINTR);
  if (n > 0) st->len += (size_t)n;
  if (n == 0) st->eof = 1;
  return n;
}

static void free_poll(uv_handle_t *h) {
  free(h);
}

static void stop_poll(line_op *op) {
  if (!op->poll) return;
  uv_poll_stop(op->poll);
  uv_close((uv_handle_t *)op->poll, free_poll);
  op->poll = NULL;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  line_op *op = h->data;
  ssize_t n = status < 0 ? (errno = EIO, -1) : fill(op->st);
  if (n < 0 && errno == EAGAIN) return;
  if (n < 0) op->err = errno;
  else if (!take_line(op->st, &op->line, &op->line_len) && !op->st->eof) return;
  stop_poll(op);
  th_wait_ready(&op->w);
}

static int push_line(lua_State *co, th_wait *w) {
  line_op *op = (line_op *)w;
  if (op->err) {
    lua_pushnil(co);
    lua_pushfstring(co, "task.read_line: reading standard input: %s", strerror(op->err));
    lua_pushliteral(co, "EIO");
    return 3;
  }
  if (op->line) lua_pushlstring(co, op->line, op->line_len);
  else lua_pushnil(co);
  return 1;
}

static void release_line(th_wait *w, int in_flight) {
  (void)in_flight;
  line_op *op = (line_op *)w;
  stop_poll(op);
  if (op->st->reading == op) op->st->reading = NULL;
  free(op->line);
  free(op);
}

static int l_read_line(lua_State *L) {
  const char *prompt = luaL_optstring(L, 1, NULL);
  line_state *st = state_of(L);
  if (st->reading) return luaL_error(L, "task.read_line: another task is already reading standard input");
  if (prompt) {
    fputs(prompt, stdout);
    fflush(stdout);
  }
  char *line = NULL;
  size_t len = 0;
  if (take_line(st, &line, &len) || st->eof) { /* no wait needed */
    if (!line) return lua_pushnil(L), 1;
    lua_pushlstring(L, line, len);
    free(line);
    return 1;
  }
  line_op *op = th_wait_new(L, sizeof *op, "task.read_line", push_line, release_line);
  op->st = st;
  op->poll = malloc(sizeof *op->poll);
  th_host *host = th_host_of(L);
  if (op->poll && uv_poll_init(th_loop_uv(host->loop), op->poll, 0) == 0) {
    op->poll->data = op;
    uv_poll_start(op->poll, UV_READABLE, on_readable);
    st->reading = op;
    return th_wait_yield(L, &op->w);
  }
  /* Not pollable (a regular file): reading it never waits, so read it here. */
  free(op->poll);
  op->poll = NULL;
  ssize_t n = 1;
  while (!take_line(st, &op->line, &op->line_len) && !st->eof && (n = fill(st)) >= 0) {}
  if (n < 0) op->err = errno;
  int nres = push_line(L, &op->w);
  release_line(&op->w, 0);
  return nres;
}

void th_task_read_line_open(lua_State *L) {
  lua_pushcfunction(L, l_read_line);
  lua_setfield(L, -2, "read_line");
}
