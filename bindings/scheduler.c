/* bindings/scheduler.c — the ready queue and coroutine resumption. See scheduler.h for the model.
 *
 * Why a uv_check plus a uv_idle: the check handle runs after every poll phase, which is the
 * safe point to resume Lua; the idle handle is started only while jobs are queued so that the
 * loop polls without blocking and reaches the check phase at once. Both are unreferenced or
 * stopped when there is nothing to do, so they never keep the process alive by themselves. */
#include "scheduler.h"

#include <lauxlib.h>
#include <stdlib.h>
#include <string.h>

#include "task.h"

th_wait *th_thread_wait(lua_State *co) { return *(th_wait **)lua_getextraspace(co); }

static void set_thread_wait(lua_State *co, th_wait *w) { *(th_wait **)lua_getextraspace(co) = w; }

static void on_idle(uv_idle_t *h) { (void)h; /* only keeps the loop from blocking */ }

static void drain(th_host *host) {
  /* Run only the jobs queued before this pass: jobs queued by them wait for the next pass,
   * so a task that keeps yielding cannot starve I/O. */
  th_job *job = host->ready_head;
  host->ready_head = host->ready_tail = NULL;
  while (job) {
    th_job *next = job->next;
    job->next = NULL;
    job->run(host, job);
    job = next;
  }
  if (!host->ready_head) uv_idle_stop(&host->idle);
}

static void on_check(uv_check_t *h) { drain(h->data); }

void th_sched_drain_all(th_host *host) {
  while (host->ready_head) drain(host);
}

void th_sched_init(th_host *host) {
  uv_loop_t *loop = th_loop_uv(host->loop);
  uv_check_init(loop, &host->check);
  host->check.data = host;
  uv_check_start(&host->check, on_check);
  uv_unref((uv_handle_t *)&host->check);
  uv_idle_init(loop, &host->idle);
  host->idle.data = host;
}

void th_sched_close(th_host *host) {
  uv_close((uv_handle_t *)&host->check, NULL);
  uv_close((uv_handle_t *)&host->idle, NULL);
}

void th_sched_post(th_host *host, th_job *job) {
  job->next = NULL;
  if (host->ready_tail)
    host->ready_tail->next = job;
  else
    host->ready_head = job;
  host->ready_tail = job;
  if (!host->shutting_down) uv_idle_start(&host->idle, on_idle);
}

/* ---- waits ---- */

static void unlink_wait(th_host *host, th_wait *w) {
  if (w->prev)
    w->prev->next = w->next;
  else if (host->waiting == w)
    host->waiting = w->next;
  if (w->next) w->next->prev = w->prev;
  w->prev = w->next = NULL;
}

void th_sched_unpost(th_host *host, th_job *job) {
  th_job **p = &host->ready_head, *prev = NULL;
  while (*p && *p != job) {
    prev = *p;
    p = &(*p)->next;
  }
  if (!*p) return;
  *p = job->next;
  if (host->ready_tail == job) host->ready_tail = prev;
}

/* Resumes the coroutine of a delivered wait (a job). */
static void deliver(th_host *host, th_job *job) {
  th_wait *w = (th_wait *)job;
  lua_State *co = w->co;
  int co_ref = w->co_ref;
  unlink_wait(host, w);
  if (th_thread_wait(co) != w || lua_status(co) != LUA_YIELD) {
    /* Someone resumed it meanwhile; its continuation already raised. */
    w->release(w, 0);
    luaL_unref(host->L, LUA_REGISTRYINDEX, co_ref);
    return;
  }
  set_thread_wait(co, NULL);
  int n = w->push(co, w);
  host->resume_raises = n < 0;
  host->resuming = w;
  w->release(w, 0);
  th_sched_resume(host, co, n < 0 ? 1 : n);
  host->resuming = NULL;
  host->resume_raises = 0;
  /* Unpinned only now: the coroutine must stay alive while it runs. */
  luaL_unref(host->L, LUA_REGISTRYINDEX, co_ref);
}

void th_wait_check(lua_State *L, const char *what) {
  if (!lua_isyieldable(L))
    luaL_error(L, "%s: cannot wait here: not in a coroutine the scheduler runs "
                  "(inside a metamethod, an iterator or a C call?)", what);
  if (th_host_of(L)->shutting_down) luaL_error(L, "%s: cannot wait: teehost is shutting down", what);
}

void *th_wait_new(lua_State *L, size_t size, const char *what, int (*push)(lua_State *, th_wait *),
                  void (*release)(th_wait *, int)) {
  th_wait_check(L, what);
  th_wait *w = calloc(1, size);
  if (!w) luaL_error(L, "%s: out of memory", what);
  w->what = what;
  w->push = push;
  w->release = release;
  return w;
}

static int wait_continue(lua_State *L, int status, lua_KContext ctx) {
  (void)status;
  th_host *host = th_host_of(L);
  th_wait *w = (th_wait *)ctx;
  if (host->resuming != w) {
    /* Resumed by coroutine.resume while the operation is still in flight. */
    th_wait *mine = th_thread_wait(L);
    const char *what = mine ? mine->what : "operation";
    if (mine) {
      set_thread_wait(L, NULL);
      th_wait_cancel(host, mine);
    }
    return luaL_error(L, "%s: coroutine resumed while it was waiting (let the scheduler resume it, "
                         "or use task.spawn)", what);
  }
  host->resuming = NULL;
  if (host->resume_raises) {
    host->resume_raises = 0;
    return lua_error(L);
  }
  return lua_gettop(L);
}

int th_wait_yield(lua_State *L, th_wait *w) {
  th_host *host = th_host_of(L);
  w->job.run = deliver;
  w->ready = 0;
  w->co = L;
  lua_pushthread(L);
  w->co_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  w->prev = NULL;
  w->next = host->waiting;
  if (host->waiting) host->waiting->prev = w;
  host->waiting = w;
  set_thread_wait(L, w);
  lua_settop(L, 0);
  return lua_yieldk(L, 0, (lua_KContext)w, wait_continue);
}

void th_wait_ready(th_wait *w) {
  if (w->ready) return;
  w->ready = 1;
  th_sched_post(th_host_of(w->co), &w->job);
}

void th_wait_cancel(th_host *host, th_wait *w) {
  int co_ref = w->co_ref;
  if (th_thread_wait(w->co) == w) set_thread_wait(w->co, NULL);
  unlink_wait(host, w);
  if (w->ready) th_sched_unpost(host, &w->job);
  w->release(w, !w->ready);
  luaL_unref(host->L, LUA_REGISTRYINDEX, co_ref);
}

/* ---- resumption ---- */

typedef struct yield_job {
  th_job job;
  lua_State *co;
  int co_ref;
} yield_job;

static void resume_yielded(th_host *host, th_job *job) {
  yield_job *y = (yield_job *)job;
  lua_State *co = y->co;
  int ref = y->co_ref;
  free(y);
  if (!host->shutting_down && lua_status(co) == LUA_YIELD && !th_thread_wait(co))
    th_sched_resume(host, co, 0);
  luaL_unref(host->L, LUA_REGISTRYINDEX, ref);
}

/* A plain coroutine.yield from a coroutine the scheduler runs: yield to the loop and come
 * back on the next pass. */
static void requeue(th_host *host, lua_State *co) {
  if (host->shutting_down) return;
  yield_job *y = malloc(sizeof *y);
  if (!y) {
    th_host_report("out of memory requeueing a coroutine; it is dropped");
    return;
  }
  y->job.run = resume_yielded;
  y->co = co;
  lua_pushthread(co);
  lua_xmove(co, host->L, 1);
  y->co_ref = luaL_ref(host->L, LUA_REGISTRYINDEX);
  th_sched_post(host, &y->job);
}

void th_sched_resume(th_host *host, lua_State *co, int nargs) {
  lua_State *outer = host->running;
  int nres = 0;
  host->running = co;
  int status = lua_resume(co, host->L, nargs, &nres);
  host->running = outer;
  if (status == LUA_YIELD) {
    lua_pop(co, nres);
    if (!th_thread_wait(co)) requeue(host, co);
    return;
  }
  th_task_finished(host, co, status == LUA_OK, status == LUA_OK ? nres : 1);
}
