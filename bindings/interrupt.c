/* bindings/interrupt.c — see interrupt.h. */
#include "interrupt.h"

#include <lauxlib.h>
#include <signal.h>
#include <string.h>

static th_host *volatile g_host;

static void interrupt_hook(lua_State *L, lua_Debug *ar) {
  (void)ar;
  lua_sethook(L, NULL, 0, 0);
  /* A stale hook (the interrupt was already handled) just removes itself. */
  if (th_host_of(L)->interrupt_pending) luaL_error(L, "interrupted");
}

static void on_sigint(int sig) {
  th_host *host = g_host;
  if (!host) return;
  if (host->mode == TH_MODE_SCRIPT && host->exit_code == 130) {
    /* Second Ctrl-C while shutting down: stop at once. */
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  host->interrupt_pending = 1;
  lua_State *co = host->running;
  if (co && (!host->interrupt_target || co == host->interrupt_target))
    lua_sethook(co, interrupt_hook, LUA_MASKCALL | LUA_MASKRET | LUA_MASKCOUNT, 1);
  uv_async_send(&host->sigint);
}

static void on_async(uv_async_t *async) {
  th_host *host = async->data;
  if (!host->interrupt_pending) return;
  if (host->on_interrupt) host->on_interrupt(host);
  host->interrupt_pending = 0;
}

void th_interrupt_install(th_host *host) {
  uv_async_init(th_loop_uv(host->loop), &host->sigint, on_async);
  host->sigint.data = host;
  uv_unref((uv_handle_t *)&host->sigint);
  g_host = host;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_sigint;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
}

void th_interrupt_uninstall(th_host *host) {
  signal(SIGINT, SIG_DFL);
  g_host = NULL;
  uv_close((uv_handle_t *)&host->sigint, NULL);
}
