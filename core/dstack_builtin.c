/* core/dstack_builtin.c — the BUILTIN transport of core/dstack: one RPC answered by the
 * th_simulator in this process (th_simulator_call), with no socket in between.
 *
 * What this file owns: th_dstack_sim_call, one per RPC: a copy of the path and body and the
 * uv_timer_t that runs the simulator call on the next loop iteration, so the caller's callback
 * never runs inside the call that started it (the same promise core/http_client makes).
 * Cancelling stops the timer and closes it; the memory is freed in the close callback, because
 * libuv owns the handle until then. After a cancel nothing of the call is touched but the
 * handle's close. */
#include "dstack.h"

#include <sodium.h>
#include <stdlib.h>
#include <string.h>

struct th_dstack_sim_call {
  uv_timer_t timer;
  th_simulator *sim;
  th_dstack_raw_cb cb;
  void *ud;
  char *path;
  char *body;
  size_t len;
};

static void on_closed(uv_handle_t *h) {
  th_dstack_sim_call *k = h->data;
  free(k->path);
  free(k->body);
  free(k);
}

static void on_timer(uv_timer_t *t) {
  th_dstack_sim_call *k = t->data;
  int status = 0;
  char *resp = NULL;
  size_t resp_len = 0;
  th_err e = {0};
  int rc = th_simulator_call(k->sim, "POST", k->path, NULL, "application/json", k->body, k->len,
                             &status, &resp, &resp_len);
  th_dstack_raw_cb cb = k->cb;
  void *ud = k->ud;
  uv_close((uv_handle_t *)&k->timer, on_closed); /* done: the callback may not cancel it */
  if (rc != 0) {
    th_err_set(&e, TH_ENOMEM, "built-in simulator: out of memory");
    cb(ud, 0, NULL, 0, &e);
  } else {
    cb(ud, status, resp, resp_len, NULL);
  }
  if (resp) sodium_memzero(resp, resp_len); /* a GetKey reply holds a derived key */
  free(resp);
}

static char *copy(const char *s, size_t n) {
  char *d = malloc(n + 1);
  if (!d) return NULL;
  if (n) memcpy(d, s, n);
  d[n] = '\0';
  return d;
}

th_dstack_sim_call *th_dstack_sim_start(th_simulator *sim, uv_loop_t *loop, const char *path,
                                        const char *body, size_t len, th_dstack_raw_cb cb,
                                        void *ud, th_err *err) {
  th_dstack_sim_call *k = calloc(1, sizeof *k);
  if (k) {
    k->path = copy(path, strlen(path));
    k->body = copy(body ? body : "", body ? len : 0);
  }
  if (!k || !k->path || !k->body) {
    if (k) free(k->path), free(k->body);
    free(k);
    th_err_set(err, TH_ENOMEM, "built-in simulator: out of memory");
    return NULL;
  }
  *k = (th_dstack_sim_call){.sim = sim, .cb = cb, .ud = ud, .path = k->path, .body = k->body,
                            .len = body ? len : 0};
  int rc = uv_timer_init(loop, &k->timer);
  if (rc == 0) {
    k->timer.data = k;
    rc = uv_timer_start(&k->timer, on_timer, 0, 0);
    if (rc != 0) uv_close((uv_handle_t *)&k->timer, on_closed);
  } else {
    free(k->path), free(k->body), free(k);
  }
  if (rc != 0) {
    th_err_set(err, TH_EIO, "built-in simulator: %s", uv_strerror(rc));
    return NULL;
  }
  return k;
}

void th_dstack_sim_cancel(th_dstack_sim_call *call) {
  if (!call) return;
  uv_timer_stop(&call->timer);
  uv_close((uv_handle_t *)&call->timer, on_closed);
}
