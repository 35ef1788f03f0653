/* core/loop.h — the one libuv loop of a teehost process.
 *
 * th_loop owns a uv_loop_t. Every other core object takes the uv_loop_t* from th_loop_uv() and
 * registers its handles there; nothing in core/ creates a loop of its own or keeps a global one.
 * Shutdown is orderly: th_loop_free() closes every handle still open (their close callbacks run,
 * so their owners free their memory), runs the loop until all are closed, then frees the loop. */
#ifndef TH_LOOP_H
#define TH_LOOP_H

#include <uv.h>

#include "error.h"

typedef struct th_loop th_loop;

/* Returns a new loop, or NULL with err filled. Free with th_loop_free(). */
th_loop *th_loop_new(th_err *err);

/* The libuv loop; borrowed, valid until th_loop_free(). */
uv_loop_t *th_loop_uv(th_loop *loop);

/* Runs until no referenced handle or request is active (UV_RUN_DEFAULT), or one iteration
 * (UV_RUN_ONCE / UV_RUN_NOWAIT). Returns uv_run's result: non-zero while work remains. */
int th_loop_run(th_loop *loop, uv_run_mode mode);

/* Closes every handle still open, runs their close callbacks, closes and frees the loop.
 * Handles' owners must free their memory in their close callbacks (never before). NULL is ok. */
void th_loop_free(th_loop *loop);

#endif
