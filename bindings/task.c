/* bindings/task.c — tasks and the Lua `task` module: spawn, sleep, all, timeout, yield.
 * See task.h. A Task userdata keeps its coroutine in user value 1 and, once finished, its
 * results (a table with n) or its error (at [1]) in user value 2. Running tasks are pinned by
 * self_ref and listed in the registry table `teehost.tasks` (thread -> Task) so the scheduler
 * can find the task of a coroutine that finished. */
#include "task.h"

#include <lauxlib.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scheduler.h"

#define TASK_MT "teehost.Task"
#define TASKS_KEY "teehost.tasks"

enum { T_PENDING, T_RUNNING, T_DONE, T_FAILED, T_CANCELLED };
static const char *const state_names[] = {"pending", "running", "done", "failed", "cancelled"};

typedef struct join_wait join_wait;

struct th_task {
  th_job start;
  lua_State *co;
  int nargs;
  int self_ref;
  int state;
  th_task_done_fn on_done;
  void *on_done_ud;
  join_wait *joiners;
  th_task *prev, *next; /* host->tasks */
};

struct join_wait {
  th_wait w;
  th_task *task;
  int task_ref;
  join_wait *next;
};

lua_State *th_task_thread(th_task *t) { return t->co; }
th_task *th_task_next(th_task *t) { return t->next; }

static void push_tasks_table(lua_State *L) { lua_getfield(L, LUA_REGISTRYINDEX, TASKS_KEY); }

/* Pushes on L a results table {n = nres, ...} copied from the top nres values of co, which
 * stay where they are. */
static void pack_results(lua_State *L, lua_State *co, int nres) {
  lua_checkstack(co, 1);
  lua_createtable(L, nres, 1);
  for (int i = 1; i <= nres; i++) {
    lua_pushvalue(co, -nres - 1 + i);
    lua_xmove(co, L, 1);
    lua_rawseti(L, -2, i);
  }
  lua_pushinteger(L, nres);
  lua_setfield(L, -2, "n");
}

/* Replaces the results table on top of L with its values and returns their count; for a failed
 * outcome, replaces it with the error (stored at [1]) and returns -1. */
static int unpack_results(lua_State *L, int failed) {
  if (failed) {
    lua_rawgeti(L, -1, 1);
    lua_remove(L, -2);
    return -1;
  }
  lua_getfield(L, -1, "n");
  int n = (int)lua_tointeger(L, -1);
  lua_pop(L, 1);
  luaL_checkstack(L, n, "too many results");
  for (int i = 1; i <= n; i++) lua_rawgeti(L, -i, i);
  lua_remove(L, -(n + 1));
  return n;
}

th_task *th_task_of(th_host *host, lua_State *co) {
  lua_State *L = host->L;
  push_tasks_table(L);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_rawget(L, -2);
  th_task *t = lua_touserdata(L, -1);
  lua_pop(L, 2);
  return t;
}

static void unlink_task(th_host *host, th_task *t) {
  if (t->prev)
    t->prev->next = t->next;
  else if (host->tasks == t)
    host->tasks = t->next;
  if (t->next) t->next->prev = t->prev;
  t->prev = t->next = NULL;
}

static void start_task(th_host *host, th_job *job) {
  th_task *t = (th_task *)job;
  if (t->state != T_PENDING) return;
  t->state = T_RUNNING;
  th_sched_resume(host, t->co, t->nargs);
}

th_task *th_task_spawn(lua_State *L, int nargs, th_task_done_fn on_done, void *ud) {
  th_host *host = th_host_of(L);
  luaL_checktype(L, -(nargs + 1), LUA_TFUNCTION);
  if (host->shutting_down) luaL_error(L, "task.spawn: teehost is shutting down");
  lua_State *co = lua_newthread(L);
  *(th_wait **)lua_getextraspace(co) = NULL;
  th_task *t = lua_newuserdatauv(L, sizeof *t, 2);
  memset(t, 0, sizeof *t);
  luaL_setmetatable(L, TASK_MT);
  t->co = co;
  t->nargs = nargs;
  t->on_done = on_done;
  t->on_done_ud = ud;
  t->start.run = start_task;
  lua_pushvalue(L, -2);
  lua_setiuservalue(L, -2, 1); /* stack: fn args... co task */
  push_tasks_table(L);
  lua_pushvalue(L, -3);
  lua_pushvalue(L, -3);
  lua_rawset(L, -3); /* tasks[co] = task */
  lua_pop(L, 1);
  lua_pushvalue(L, -1);
  t->self_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  lua_rotate(L, -(nargs + 3), 2); /* co task fn args... */
  lua_xmove(L, co, nargs + 1);
  lua_remove(L, -2); /* task */
  t->next = host->tasks;
  if (host->tasks) host->tasks->prev = t;
  host->tasks = t;
  th_sched_post(host, &t->start);
  return t;
}

void th_task_report_error(th_host *host, lua_State *co, const char *prefix) {
  if (host->exit_code == 130 || host->interrupt_pending) return; /* Ctrl-C: errors expected */
  lua_State *L = host->L; /* co's stack is left as it is: its error is the task's result */
  int top = lua_gettop(L);
  const char *msg = lua_tostring(co, -1);
  if (!msg) msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(co, -1));
  lua_pushstring(L, prefix);
  luaL_traceback(L, co, msg, 0);
  lua_concat(L, 2);
  th_host_report(lua_tostring(L, -1));
  lua_settop(L, top);
  host->exit_code = 1;
}

void th_task_finished(th_host *host, lua_State *co, int ok, int nres) {
  th_task *t = th_task_of(host, co);
  if (!t) {
    if (!ok) th_task_report_error(host, co, "error in a coroutine the scheduler resumed: ");
    lua_settop(co, 0);
    return;
  }
  lua_State *L = host->L;
  if (t->state != T_CANCELLED) t->state = ok ? T_DONE : T_FAILED;
  unlink_task(host, t);
  push_tasks_table(L);
  lua_pushthread(co);
  lua_xmove(co, L, 1);
  lua_pushnil(L);
  lua_rawset(L, -3);
  lua_pop(L, 1);

  int awaited = t->joiners != NULL || t->on_done != NULL;
  if (!ok && !awaited && t->state != T_CANCELLED) th_task_report_error(host, co, "");
  if (t->on_done) t->on_done(host, t, co, ok, nres, t->on_done_ud);

  /* Keep results (or the error) in the Task for joiners, now and later. */
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
  pack_results(L, co, nres);
  lua_setiuservalue(L, -2, 2);
  lua_pop(L, 1);
  lua_settop(co, 0);

  for (join_wait *j = t->joiners; j; j = j->next) th_wait_ready(&j->w);
  t->joiners = NULL;
  luaL_unref(L, LUA_REGISTRYINDEX, t->self_ref);
  t->self_ref = LUA_NOREF;
}

void th_task_cancel(th_host *host, th_task *t) {
  if (t->state == T_DONE || t->state == T_FAILED || t->state == T_CANCELLED) return;
  lua_State *co = t->co;
  int was_pending = t->state == T_PENDING;
  t->state = T_CANCELLED;
  if (!was_pending) {
    th_wait *w = th_thread_wait(co);
    if (w) th_wait_cancel(host, w);
  } else {
    th_sched_unpost(host, &t->start); /* the job lives in the userdata, which may be collected */
  }
  lua_resetthread(co); /* closes pending to-be-closed variables */
  lua_settop(co, 0);
  lua_pushliteral(co, "task cancelled");
  th_task_finished(host, co, 0, 1);
}

/* ---- Lua: Task objects ---- */

static th_task *check_task(lua_State *L, int idx) { return luaL_checkudata(L, idx, TASK_MT); }

static int join_push(lua_State *co, th_wait *w) {
  join_wait *j = (join_wait *)w;
  lua_rawgeti(co, LUA_REGISTRYINDEX, j->task_ref);
  lua_getiuservalue(co, -1, 2);
  lua_remove(co, -2);
  return unpack_results(co, j->task->state != T_DONE);
}

static void join_release(th_wait *w, int in_flight) {
  join_wait *j = (join_wait *)w;
  if (in_flight) {
    for (join_wait **p = &j->task->joiners; *p; p = &(*p)->next)
      if (*p == j) {
        *p = j->next;
        break;
      }
  }
  luaL_unref(w->co, LUA_REGISTRYINDEX, j->task_ref);
  free(j);
}

/* t:join() -> the task's results, or raises its error. */
static int task_join(lua_State *L) {
  th_task *t = check_task(L, 1);
  if (t->co == L) return luaL_error(L, "task:join: a task cannot join itself");
  if (t->state == T_DONE || t->state == T_FAILED || t->state == T_CANCELLED) {
    lua_getiuservalue(L, 1, 2);
    int n = unpack_results(L, t->state != T_DONE);
    return n < 0 ? lua_error(L) : n;
  }
  join_wait *j = th_wait_new(L, sizeof *j, "task:join", join_push, join_release);
  j->task = t;
  lua_pushvalue(L, 1);
  j->task_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  j->next = t->joiners;
  t->joiners = j;
  return th_wait_yield(L, &j->w);
}

static int task_cancel_l(lua_State *L) {
  th_task *t = check_task(L, 1);
  if (t->co == L) return luaL_error(L, "task cancelled");
  if (t->state == T_RUNNING && lua_status(t->co) == LUA_OK && th_thread_wait(t->co) == NULL) {
    lua_Debug ar;
    if (lua_getstack(t->co, 0, &ar))
      return luaL_error(L, "task:cancel: the task is running (it resumed the caller)");
  }
  th_task_cancel(th_host_of(L), t);
  return 0;
}

static int task_status(lua_State *L) {
  lua_pushstring(L, state_names[check_task(L, 1)->state]);
  return 1;
}

static int task_tostring(lua_State *L) {
  th_task *t = check_task(L, 1);
  lua_pushfstring(L, "task.Task<%s %p>", state_names[t->state], (void *)t);
  return 1;
}

/* ---- task.sleep ---- */

typedef struct sleep_wait {
  th_wait w;
  uv_timer_t timer;
} sleep_wait;

static void sleep_fired(uv_timer_t *timer) { th_wait_ready(timer->data); }
static void free_on_close(uv_handle_t *h) { free(h->data); }
static int push_nothing(lua_State *co, th_wait *w) {
  (void)co;
  (void)w;
  return 0;
}
static void sleep_release(th_wait *w, int in_flight) {
  (void)in_flight;
  sleep_wait *s = (sleep_wait *)w;
  s->timer.data = s;
  uv_close((uv_handle_t *)&s->timer, free_on_close);
}

static uint64_t check_seconds(lua_State *L, int idx, const char *fn) {
  lua_Number s = luaL_checknumber(L, idx);
  if (!(s >= 0) || s > 1e9) luaL_error(L, "%s: seconds must be between 0 and 1e9, got %f", fn, (double)s);
  return (uint64_t)(s * 1000.0 + 0.5);
}

static int task_sleep(lua_State *L) {
  uint64_t ms = check_seconds(L, 1, "task.sleep");
  sleep_wait *s = th_wait_new(L, sizeof *s, "task.sleep", push_nothing, sleep_release);
  uv_timer_init(th_loop_uv(th_host_of(L)->loop), &s->timer);
  s->timer.data = &s->w;
  uv_timer_start(&s->timer, sleep_fired, ms, 0);
  return th_wait_yield(L, &s->w);
}

/* task.yield(): let every other ready coroutine run, then continue (a 0 s sleep). */
static int task_yield(lua_State *L) {
  lua_settop(L, 0);
  lua_pushinteger(L, 0);
  return task_sleep(L);
}

static int task_spawn(lua_State *L) {
  luaL_checktype(L, 1, LUA_TFUNCTION);
  th_task_spawn(L, lua_gettop(L) - 1, NULL, NULL);
  return 1;
}

/* ---- task.all ---- */

typedef struct all_wait all_wait;
typedef struct all_child {
  all_wait *group;
  int index;
  th_task *task;
} all_child;

struct all_wait {
  th_wait w;
  int n, remaining, failed, released;
  int results_ref; /* table {n=, first result of each} */
  int error_ref;
  all_child *kids;
};

static void all_child_done(th_host *host, th_task *t, lua_State *co, int ok, int nres, void *ud) {
  (void)t;
  all_child *kid = ud;
  all_wait *g = kid->group;
  kid->task = NULL;
  if (g->released || g->failed) return;
  lua_State *L = host->L;
  if (!ok) {
    g->failed = 1;
    lua_pushvalue(co, -1);
    lua_xmove(co, L, 1);
    g->error_ref = luaL_ref(L, LUA_REGISTRYINDEX);
    for (int i = 0; i < g->n; i++)
      if (g->kids[i].task) th_task_cancel(host, g->kids[i].task);
    th_wait_ready(&g->w);
    return;
  }
  lua_rawgeti(L, LUA_REGISTRYINDEX, g->results_ref);
  if (nres > 0) {
    lua_pushvalue(co, -nres);
    lua_xmove(co, L, 1);
    lua_rawseti(L, -2, kid->index);
  }
  lua_pop(L, 1);
  if (--g->remaining == 0) th_wait_ready(&g->w);
}

static int all_push(lua_State *co, th_wait *w) {
  all_wait *g = (all_wait *)w;
  if (g->failed) {
    lua_rawgeti(co, LUA_REGISTRYINDEX, g->error_ref);
    return -1;
  }
  lua_rawgeti(co, LUA_REGISTRYINDEX, g->results_ref);
  return 1;
}

static void all_release(th_wait *w, int in_flight) {
  all_wait *g = (all_wait *)w;
  lua_State *L = th_host_of(w->co)->L;
  g->released = 1;
  if (in_flight)
    for (int i = 0; i < g->n; i++)
      if (g->kids[i].task) th_task_cancel(th_host_of(L), g->kids[i].task);
  luaL_unref(L, LUA_REGISTRYINDEX, g->results_ref);
  luaL_unref(L, LUA_REGISTRYINDEX, g->error_ref);
  free(g->kids);
  free(g);
}

/* task.all{f1, f2, ...} -> {n=, r1, r2, ...}: runs every function as a task, returns each
 * one's first result in order; the first error (in time) cancels the rest and is raised. */
static int task_all(lua_State *L) {
  luaL_checktype(L, 1, LUA_TTABLE);
  int n = (int)luaL_len(L, 1);
  for (int i = 1; i <= n; i++)
    if (lua_geti(L, 1, i) != LUA_TFUNCTION)
      return luaL_error(L, "task.all: element %d is a %s, not a function", i, luaL_typename(L, -1));
    else
      lua_pop(L, 1);
  lua_createtable(L, n, 1);
  lua_pushinteger(L, n);
  lua_setfield(L, -2, "n");
  if (n == 0) return 1;
  th_wait_check(L, "task.all");
  all_wait *g = calloc(1, sizeof *g);
  all_child *kids = calloc((size_t)n, sizeof *kids);
  if (!g || !kids) {
    free(g);
    free(kids);
    return luaL_error(L, "task.all: out of memory");
  }
  g->w.what = "task.all";
  g->w.push = all_push;
  g->w.release = all_release;
  g->n = g->remaining = n;
  g->kids = kids;
  g->error_ref = LUA_NOREF;
  g->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  for (int i = 0; i < n; i++) {
    kids[i].group = g;
    kids[i].index = i + 1;
    lua_geti(L, 1, i + 1);
    kids[i].task = th_task_spawn(L, 0, all_child_done, &kids[i]);
    lua_pop(L, 1);
  }
  return th_wait_yield(L, &g->w);
}

/* ---- task.timeout ---- */

typedef struct timeout_wait {
  th_wait w;
  uv_timer_t timer;
  th_task *child;
  int timed_out, failed, released;
  int results_ref;
  double seconds;
} timeout_wait;

static void timeout_child_done(th_host *host, th_task *t, lua_State *co, int ok, int nres, void *ud) {
  (void)t;
  timeout_wait *tw = ud;
  tw->child = NULL;
  if (tw->released || tw->timed_out) return;
  lua_State *L = host->L;
  tw->failed = !ok;
  pack_results(L, co, nres);
  tw->results_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  uv_timer_stop(&tw->timer);
  th_wait_ready(&tw->w);
}

static void timeout_fired(uv_timer_t *timer) {
  timeout_wait *tw = timer->data;
  tw->timed_out = 1;
  if (tw->child) th_task_cancel(th_host_of(tw->w.co), tw->child);
  th_wait_ready(&tw->w);
}

static int timeout_push(lua_State *co, th_wait *w) {
  timeout_wait *tw = (timeout_wait *)w;
  if (tw->timed_out) {
    char secs[32];
    snprintf(secs, sizeof secs, "%g", tw->seconds);
    lua_pushnil(co);
    lua_pushfstring(co, "timed out after %s s", secs);
    lua_pushliteral(co, "ETIMEDOUT");
    return 3;
  }
  lua_rawgeti(co, LUA_REGISTRYINDEX, tw->results_ref);
  return unpack_results(co, tw->failed);
}

static void timeout_release(th_wait *w, int in_flight) {
  (void)in_flight;
  timeout_wait *tw = (timeout_wait *)w;
  th_host *host = th_host_of(w->co);
  tw->released = 1;
  if (tw->child) th_task_cancel(host, tw->child);
  luaL_unref(host->L, LUA_REGISTRYINDEX, tw->results_ref);
  tw->timer.data = tw;
  uv_close((uv_handle_t *)&tw->timer, free_on_close);
}

/* task.timeout(seconds, fn, ...) -> fn's results, or nil, "timed out after N s", "ETIMEDOUT"
 * (fn's task is cancelled then). fn's error is raised. */
static int task_timeout(lua_State *L) {
  uint64_t ms = check_seconds(L, 1, "task.timeout");
  luaL_checktype(L, 2, LUA_TFUNCTION);
  timeout_wait *tw = th_wait_new(L, sizeof *tw, "task.timeout", timeout_push, timeout_release);
  tw->results_ref = LUA_NOREF;
  tw->seconds = (double)lua_tonumber(L, 1);
  tw->child = th_task_spawn(L, lua_gettop(L) - 2, timeout_child_done, tw);
  uv_timer_init(th_loop_uv(th_host_of(L)->loop), &tw->timer);
  tw->timer.data = tw;
  uv_timer_start(&tw->timer, timeout_fired, ms, 0);
  return th_wait_yield(L, &tw->w);
}

/* task.current() -> the running Task, or nil when not in a task. */
static int task_current(lua_State *L) {
  th_task *t = th_task_of(th_host_of(L), L);
  if (!t || t->self_ref == LUA_NOREF) return lua_pushnil(L), 1;
  lua_rawgeti(L, LUA_REGISTRYINDEX, t->self_ref);
  return 1;
}

/* task.now() -> seconds on a monotonic clock (uv_hrtime), for measuring intervals. */
static int task_now(lua_State *L) {
  lua_pushnumber(L, (lua_Number)uv_hrtime() / 1e9);
  return 1;
}

int luaopen_task(lua_State *L) {
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, TASKS_KEY);
  static const luaL_Reg methods[] = {
      {"join", task_join}, {"cancel", task_cancel_l}, {"status", task_status}, {NULL, NULL}};
  luaL_newmetatable(L, TASK_MT);
  luaL_newlib(L, methods);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, task_tostring);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
  static const luaL_Reg funcs[] = {{"spawn", task_spawn},     {"sleep", task_sleep},
                                   {"yield", task_yield},     {"all", task_all},
                                   {"timeout", task_timeout}, {"current", task_current},
                                   {"now", task_now},
                                   {NULL, NULL}};
  luaL_newlib(L, funcs);
  th_task_read_line_open(L); /* task.read_line, in task_read_line.c */
  return 1;
}
