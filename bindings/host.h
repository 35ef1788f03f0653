/* bindings/host.h — the Lua host: one lua_State on one libuv loop, and what hangs off them.
 *
 * A th_host owns the loop (core/loop), the Lua state, the scheduler's handles and queues
 * (bindings/scheduler.c), the shared HTTP client, and a list of open resources (servers) that must
 * be closed on shutdown or Ctrl-C. main.c creates one per process; it is found from any Lua
 * thread with th_host_of(L) (it is the allocator's user data, so the lookup costs nothing). */
#ifndef TH_HOST_H
#define TH_HOST_H

#include <lua.h>
#include <uv.h>

#include "error.h"
#include "http_client.h"
#include "loop.h"

typedef struct th_host th_host;
typedef struct th_job th_job;
typedef struct th_wait th_wait;
typedef struct th_task th_task;

/* Something the host must close on shutdown or interrupt (an HTTP server, ...). The owner
 * links it with th_host_track and unlinks it with th_host_untrack when it closes by itself. */
typedef struct th_resource {
  void (*close)(struct th_resource *r); /* must call th_host_untrack */
  struct th_resource *prev, *next;
} th_resource;

/* A unit of work to run at a safe point of the loop (never inside a library callback). */
struct th_job {
  void (*run)(th_host *host, th_job *job);
  th_job *next;
};

enum th_mode { TH_MODE_SCRIPT, TH_MODE_REPL };

struct th_host {
  lua_State *L;
  th_loop *loop;
  uv_check_t check;   /* drains the ready queue after each poll */
  uv_idle_t idle;     /* keeps the loop from blocking while the queue is not empty */
  uv_async_t sigint;  /* wakes the loop when SIGINT arrives */
  th_job *ready_head, *ready_tail;
  th_wait *waiting;   /* every pinned coroutine's wait, for cancellation */
  th_task *tasks;     /* every task not finished yet */
  th_resource *resources;
  th_http_client *http; /* created on first use */
  lua_State *volatile running;          /* the thread being resumed, for the SIGINT hook */
  lua_State *volatile interrupt_target; /* REPL: only this thread is interrupted; NULL: any */
  volatile int interrupt_pending;
  void (*on_interrupt)(th_host *host); /* what Ctrl-C does in this mode */
  void *mode_data;                     /* the REPL's state */
  int resume_raises;   /* set while resuming a wait whose result is an error to raise */
  th_wait *resuming;   /* the wait being delivered, checked by its continuation */
  int mode;            /* enum th_mode */
  int exit_code;       /* 0, 1 after an unhandled script error, 130 after SIGINT */
  int shutting_down;
  size_t lua_bytes;    /* memory the Lua state holds, kept by the allocator */
};

/* Creates the loop and the Lua state with the standard libraries, the teehost modules
 * (as globals and via require) and the module searcher for embedded scripts. */
th_host *th_host_new(th_err *err);

/* Closes everything: cancels tasks and waits, closes resources and the HTTP client, closes the
 * Lua state, then the loop. NULL is ok. */
void th_host_free(th_host *host);

static inline th_host *th_host_of(lua_State *L) {
  void *ud;
  lua_getallocf(L, &ud);
  return (th_host *)ud;
}

/* Runs the loop until no work remains. */
void th_host_run(th_host *host);

/* Cancels every task, wait and resource: after this the loop runs dry. Used on SIGINT and EOF. */
void th_host_cancel_all(th_host *host);

void th_host_track(th_host *host, th_resource *r);
void th_host_untrack(th_host *host, th_resource *r);

/* The shared HTTP client, created on first use; NULL with err on failure. */
th_http_client *th_host_http(th_host *host, th_err *err);

/* Loads a chunk from an embedded file or from $TEEHOST_PATH/<path> when that is set.
 * Pushes the function, or returns the lua_load status with the message pushed. */
int th_host_load_embedded(lua_State *L, const char *path);

/* Pushes the expected-failure triple nil, err->message, code name ("ECONNREFUSED"); returns
 * 3, so a binding can `return th_push_failure(L, &err);`. */
int th_push_failure(lua_State *L, const th_err *err);

/* Raises "<fn>: unknown option 'x' (valid: a, b, c)" for any key of the options table at idx
 * that is not in the NULL-terminated `known`: misuse of a binding's options table. */
void th_check_options(lua_State *L, int idx, const char *fn, const char *const *known);

/* Prints "teehost: <msg>" (and the traceback that follows it) to stderr. */
void th_host_report(const char *msg);

/* $TEEHOST_HOME (default ~/.teehost), created 0700 if missing; refused when group/world
 * accessible. Returns 0 and writes the path into buf, or -1 with err. */
int th_host_home(char *buf, size_t size, th_err *err);

#endif
