/* bindings/tee.h — the Lua module `tee` (tee.c) and the start-up choice of TEE endpoint. */
#ifndef TH_TEE_H
#define TH_TEE_H

#include <lua.h>

#include "host.h"

int luaopen_tee(lua_State *L);

/* When the one-line report ("tee: dstack at …") goes to stderr: never (commands, which say
 * what they use themselves), now (an interactive REPL), or before the first call that talks
 * to the TEE (scripts: one that never touches the TEE prints nothing extra). */
enum { TH_TEE_QUIET, TH_TEE_REPORT_NOW, TH_TEE_REPORT_ON_USE };

/* Selects the host's TEE endpoint now (explicit = the --tee argument, or NULL): an invalid
 * TEE_MODE is a start-up error (-1 with err). */
int th_tee_startup(th_host *host, const char *explicit_tee, int report_mode, th_err *err);

#endif
