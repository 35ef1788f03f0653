/* bindings/task.h — tasks: coroutines the scheduler owns, and the Lua `task` module.
 *
 * A task is a Lua userdata (teehost.Task) holding its coroutine and, once finished, its results
 * or its error. It is pinned in the registry from spawn until it finishes, so a script may drop
 * the handle. C code spawns tasks too (the main chunk, HTTP handlers, REPL lines) and may hook
 * their end with on_done, which runs at a safe point with the results (ok) or the error (not ok)
 * on top of co's stack: `nres` values. A task whose error nobody awaits (no joiner, no on_done)
 * is reported on stderr and makes the process exit with 1. */
#ifndef TH_TASK_H
#define TH_TASK_H

#include <lua.h>

#include "host.h"

typedef void (*th_task_done_fn)(th_host *host, th_task *t, lua_State *co, int ok, int nres,
                                void *ud);

/* Spawns a task running the function at stack index -(nargs+1) with the nargs values above it
 * (all popped). It starts at the next safe point. Pushes the Task userdata and returns it. */
th_task *th_task_spawn(lua_State *L, int nargs, th_task_done_fn on_done, void *ud);

/* Cancels a task: its wait is abandoned, its to-be-closed variables closed, its joiners get
 * the error "task cancelled". No-op for a finished task. */
void th_task_cancel(th_host *host, th_task *t);

/* Reports the error on top of co (a failed coroutine) with prefix and co's traceback on
 * stderr and sets exit status 1; silent after Ctrl-C, whose "interrupted" errors are expected.
 * co's stack is not changed. */
void th_task_report_error(th_host *host, lua_State *co, const char *prefix);

/* Called by the scheduler when a task's coroutine returned (ok) or raised (!ok). */
void th_task_finished(th_host *host, lua_State *co, int ok, int nres);

/* The task whose coroutine is co, or NULL. */
th_task *th_task_of(th_host *host, lua_State *co);

/* The next task in host->tasks (for counting). */
th_task *th_task_next(th_task *t);

/* The coroutine of a task. */
lua_State *th_task_thread(th_task *t);

int luaopen_task(lua_State *L);

/* Adds task.read_line (bindings/task_read_line.c) to the module table on top of the stack. */
void th_task_read_line_open(lua_State *L);

#endif
