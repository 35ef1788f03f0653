/* bindings/scheduler.h — the coroutine scheduler: turns core callbacks into Lua return values.
 *
 * Lua code runs in coroutines. A binding that needs I/O:
 *   1. th_wait_check(L, "http.request")   raises if L cannot yield (before starting anything);
 *   2. starts the core operation, whose callback stores the result in a struct that embeds a
 *      th_wait and calls th_wait_ready(&op->wait);
 *   3. `return th_wait_yield(L, &op->wait);` pins the coroutine (luaL_ref) and yields.
 * The ready queue is drained by a uv_check handle (with a uv_idle keeping the loop spinning
 * while it is not empty), so a coroutine is never resumed from inside a curl, libmicrohttpd or
 * libuv I/O callback. When the wait is delivered, push() puts the results on the coroutine's
 * stack and release() frees the op; if the wait is abandoned (task cancelled, Ctrl-C,
 * shutdown), release() is called with in_flight = 1 and must stop the core operation first.
 *
 * The wait a thread is suspended on is kept in the thread's extra space, so the scheduler can
 * tell a binding's yield from a plain coroutine.yield (which just yields to the loop), and a
 * coroutine that somebody else resumes while it waits gets a clear error instead of garbage. */
#ifndef TH_SCHEDULER_H
#define TH_SCHEDULER_H

#include <lua.h>

#include "host.h"

struct th_wait {
  th_job job;            /* posted by th_wait_ready */
  const char *what;      /* "http.request": names the wait in error messages */
  /* Pushes the results onto co; returns their count. Return -1 after pushing one error value
   * to make the waiting call raise it instead. */
  int (*push)(lua_State *co, th_wait *w);
  /* Frees the op that embeds this wait. in_flight = 1: the op has not completed and its
   * callback must never run (cancel it first). Required. */
  void (*release)(th_wait *w, int in_flight);
  lua_State *co; /* the waiting coroutine (pinned by co_ref) */
  int co_ref;
  int ready;
  th_wait *prev, *next; /* host->waiting */
};

void th_sched_init(th_host *host);
void th_sched_close(th_host *host);

/* Queues a job for the next safe point. Safe to call from any loop callback. */
void th_sched_post(th_host *host, th_job *job);
/* Runs queued jobs until none is left (shutdown: jobs then only free themselves). */
void th_sched_drain_all(th_host *host);
/* Removes a queued job that must not run any more (no-op if it is not queued). */
void th_sched_unpost(th_host *host, th_job *job);

/* The usual start of an async binding: checks that L can wait (raising otherwise), then
 * returns a zeroed op of `size` bytes, which begins with a th_wait whose what, push and
 * release are set. Raises on out of memory. The op is freed by release. */
void *th_wait_new(lua_State *L, size_t size, const char *what, int (*push)(lua_State *, th_wait *),
                  void (*release)(th_wait *, int));

/* Raises "<what>: cannot wait here: …" if L cannot yield. */
void th_wait_check(lua_State *L, const char *what);
/* Pins L, records w as what L waits on, and yields. Call as `return th_wait_yield(L, w);`.
 * w->push, w->release and w->what must be set. The C function's stack is discarded. */
int th_wait_yield(lua_State *L, th_wait *w);
/* The op finished: queue the coroutine to be resumed with w->push's values. */
void th_wait_ready(th_wait *w);
/* Abandons a wait (its coroutine will not be resumed by it): unpins, release(in_flight). */
void th_wait_cancel(th_host *host, th_wait *w);

/* Resumes co with nargs values on its stack, from a safe point; handles yields, completion
 * and errors (tasks are notified, stray errors reported). */
void th_sched_resume(th_host *host, lua_State *co, int nargs);

/* The wait a suspended thread is waiting on, or NULL. */
th_wait *th_thread_wait(lua_State *co);

#endif
