/* bindings/repl.h — `teehost repl`: an interactive prompt on the host's loop.
 *
 * On a terminal, libedit reads keys in callback mode (rl_callback_read_char from a uv_poll on
 * stdin), so the loop keeps running while the user types: servers and tasks started at the
 * prompt go on working. Each complete chunk runs as a task; input pauses until it finishes and
 * its results are printed. On a pipe or file there is no prompt and no editing: lines are read
 * at safe points, one chunk at a time. History lives in $TEEHOST_HOME/history (terminal only).
 * Ctrl-C interrupts the running line (or clears the input line); Ctrl-D leaves. */
#ifndef TH_REPL_H
#define TH_REPL_H

#include "host.h"

/* Sets the host up for the REPL; run the host's loop afterwards, then call th_repl_free. */
int th_repl_start(th_host *host, th_err *err);
void th_repl_free(th_host *host);

#endif
