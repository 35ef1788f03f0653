/* core/loop.c — see loop.h. */
#include "loop.h"

#include <stdlib.h>

struct th_loop {
  uv_loop_t uv;
};

th_loop *th_loop_new(th_err *err) {
  th_loop *loop = calloc(1, sizeof *loop);
  if (!loop) {
    th_err_set(err, TH_ENOMEM, "loop: out of memory");
    return NULL;
  }
  int rc = uv_loop_init(&loop->uv);
  if (rc) {
    th_err_set(err, TH_EIO, "loop: %s", uv_strerror(rc));
    free(loop);
    return NULL;
  }
  return loop;
}

uv_loop_t *th_loop_uv(th_loop *loop) { return &loop->uv; }

int th_loop_run(th_loop *loop, uv_run_mode mode) { return uv_run(&loop->uv, mode); }

static void close_one(uv_handle_t *h, void *arg) {
  (void)arg;
  /* A handle with no close callback of its own belongs to someone who already freed it with
   * its owner struct, or never will: closing it is still required before uv_loop_close. */
  if (!uv_is_closing(h)) uv_close(h, NULL);
}

void th_loop_free(th_loop *loop) {
  if (!loop) return;
  /* Owners close their handles with their own callbacks first (uv_run below lets them run);
   * whatever is left is closed here so uv_loop_close can succeed. */
  uv_run(&loop->uv, UV_RUN_NOWAIT);
  uv_walk(&loop->uv, close_one, NULL);
  uv_run(&loop->uv, UV_RUN_DEFAULT);
  uv_loop_close(&loop->uv);
  free(loop);
}
