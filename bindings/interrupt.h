/* bindings/interrupt.h — Ctrl-C. SIGINT is process-wide, so this is the one place in teehost
 * with process-global state: the host the signal handler talks to.
 *
 * The handler (async-signal-safe only) sets host->interrupt_pending, sets a Lua hook on the
 * thread being resumed (so a busy loop in Lua stops with the error "interrupted", as lua.c
 * does), and wakes the loop with uv_async_send. At the next safe point host->on_interrupt
 * decides what Ctrl-C means: cancel everything and exit 130 (scripts), or cancel the current
 * line (REPL). A second Ctrl-C while a script is shutting down kills the process. */
#ifndef TH_INTERRUPT_H
#define TH_INTERRUPT_H

#include "host.h"

void th_interrupt_install(th_host *host);
void th_interrupt_uninstall(th_host *host);

#endif
