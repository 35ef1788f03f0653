/* bindings/repl.c — see repl.h. The Lua half (compile, print, complete) is
 * scripts/teehost/repl.lua; this file owns the terminal, the input and the line's task.
 *
 * libedit's readline API is global (its callbacks take no user pointer), so the REPL state the
 * callbacks need is reached through one static pointer, set while a REPL runs. */
#include "repl.h"

#include <editline/readline.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "scheduler.h"
#include "task.h"

#define PROMPT "> "
#define PROMPT_MORE ">> "

typedef struct repl {
  th_host *host;
  int tty;
  uv_poll_t poll;
  int polling, poll_open;
  int lib_ref; /* scripts/teehost/repl.lua's table */
  char *pending; /* lines of an incomplete chunk */
  size_t pending_len;
  th_task *line;  /* the running line's task, or NULL */
  int line_interrupted; /* the hook already stopped the line for this Ctrl-C */
  int done;
  th_job read_job; /* pipe mode: read the next line at a safe point */
  char history[PATH_MAX];
  char **completions;
  size_t ncompletions, next_completion;
} repl;

static repl *g_repl;

static void input_resume(repl *r);

/* Calls lib[name] with nargs values from L's stack; returns the pcall status. */
static int call_lib(repl *r, const char *name, int nargs, int nresults) {
  lua_State *L = r->host->L;
  lua_rawgeti(L, LUA_REGISTRYINDEX, r->lib_ref);
  lua_getfield(L, -1, name);
  lua_remove(L, -2);
  lua_insert(L, -(nargs + 1));
  return lua_pcall(L, nargs, nresults, 0);
}

static void print_error(const char *msg) {
  fflush(stdout);
  fprintf(stderr, "%s\n", msg);
  fflush(stderr);
}

static void clear_pending(repl *r) {
  free(r->pending);
  r->pending = NULL;
  r->pending_len = 0;
}

static void line_done(th_host *host, th_task *t, lua_State *co, int ok, int nres, void *ud) {
  (void)t;
  repl *r = ud;
  lua_State *L = host->L;
  r->line = NULL;
  host->interrupt_target = NULL;
  if (ok) {
    lua_checkstack(L, nres + 3);
    for (int i = nres; i >= 1; i--) {
      lua_pushvalue(co, -i);
      lua_xmove(co, L, 1);
    }
    if (call_lib(r, "show", nres, 0) != LUA_OK) {
      print_error(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  } else {
    const char *msg = lua_tostring(co, -1);
    if (msg && (strcmp(msg, "task cancelled") == 0 || strstr(msg, "interrupted"))) {
      print_error("interrupted");
      r->line_interrupted = host->interrupt_pending;
    } else {
      luaL_traceback(L, co, msg ? msg : "(error object is not a string)", 0);
      print_error(lua_tostring(L, -1));
      lua_pop(L, 1);
    }
  }
  if (!r->done) input_resume(r);
}

static void run_chunk(repl *r) {
  lua_State *L = r->host->L; /* the compiled function is on top */
  r->line = th_task_spawn(L, 0, line_done, r);
  r->host->interrupt_target = th_task_thread(r->line);
  lua_pop(L, 1);
}

/* Adds a line to the pending chunk and runs the chunk once it is complete. Returns 1 when a
 * chunk started running (input stays paused until it finishes). */
static int feed(repl *r, const char *line) {
  lua_State *L = r->host->L;
  size_t len = strlen(line);
  char *p = realloc(r->pending, r->pending_len + len + 2);
  if (!p) {
    print_error("out of memory");
    clear_pending(r);
    return 0;
  }
  r->pending = p;
  if (r->pending_len) r->pending[r->pending_len++] = '\n';
  memcpy(r->pending + r->pending_len, line, len + 1);
  r->pending_len += len;
  lua_pushlstring(L, r->pending, r->pending_len);
  if (call_lib(r, "compile", 1, 2) != LUA_OK) {
    print_error(lua_tostring(L, -1));
    lua_pop(L, 1);
    clear_pending(r);
    return 0;
  }
  if (lua_isfunction(L, -2)) {
    lua_pop(L, 1);
    clear_pending(r);
    run_chunk(r);
    return 1;
  }
  const char *why = lua_tostring(L, -1);
  if (why && strcmp(why, "incomplete") == 0) {
    lua_pop(L, 2);
    return 0; /* keep the lines, ask for more */
  }
  print_error(why ? why : "syntax error");
  lua_pop(L, 2);
  clear_pending(r);
  return 0;
}

/* ---- terminal mode (libedit callback interface) ---- */

static void on_tty_line(char *line);

static void tty_prompt(repl *r) { rl_callback_handler_install(r->pending ? PROMPT_MORE : PROMPT, on_tty_line); }

static void tty_pause(repl *r) {
  rl_callback_handler_remove();
  if (r->polling) uv_poll_stop(&r->poll);
  r->polling = 0;
}

static void on_stdin_readable(uv_poll_t *h, int status, int events) {
  (void)h;
  (void)events;
  if (status < 0 || !g_repl || !g_repl->polling) return;
  rl_callback_read_char();
}

static void tty_leave(repl *r) {
  r->done = 1;
  tty_pause(r);
  if (r->poll_open) {
    uv_close((uv_handle_t *)&r->poll, NULL);
    r->poll_open = 0;
  }
  fputc('\n', stdout);
  fflush(stdout);
  th_host_cancel_all(r->host);
}

static void on_tty_line(char *line) {
  repl *r = g_repl;
  if (!line) { /* Ctrl-D */
    tty_leave(r);
    return;
  }
  if (*line) {
    add_history(line);
    if (*r->history) write_history(r->history);
  }
  tty_pause(r);
  int started = feed(r, line);
  free(line);
  if (!started) input_resume(r);
}

/* ---- pipe mode ---- */

static void read_next_line(th_host *host, th_job *job) {
  (void)host;
  repl *r = (repl *)((char *)job - offsetof(repl, read_job));
  char *line = NULL;
  size_t cap = 0;
  ssize_t n = getline(&line, &cap, stdin);
  if (n < 0) {
    free(line);
    r->done = 1;
    if (r->pending) {
      lua_State *L = r->host->L;
      int base = lua_gettop(L);
      lua_pushlstring(L, r->pending, r->pending_len);
      lua_pushboolean(L, 1); /* final: report the real syntax error */
      call_lib(r, "compile", 2, 2);
      if (lua_isstring(L, -1)) print_error(lua_tostring(L, -1));
      lua_settop(L, base);
      clear_pending(r);
    }
    return;
  }
  if (n > 0 && line[n - 1] == '\n') line[--n] = 0;
  int started = feed(r, line);
  free(line);
  if (!started) input_resume(r);
}

static void input_resume(repl *r) {
  if (r->done || r->host->shutting_down) return;
  if (r->tty) {
    tty_prompt(r);
    if (!r->polling) uv_poll_start(&r->poll, UV_READABLE, on_stdin_readable);
    r->polling = 1;
  } else {
    th_sched_post(r->host, &r->read_job);
  }
}

/* ---- Ctrl-C ---- */

static void repl_interrupt(th_host *host) {
  repl *r = host->mode_data;
  if (r->line) {
    th_task_cancel(host, r->line); /* line_done prints "interrupted" */
    r->line_interrupted = 0;        /* this Ctrl-C is fully handled */
    return;
  }
  if (r->line_interrupted) { /* the hook already stopped the line */
    r->line_interrupted = 0;
    return;
  }
  clear_pending(r);
  if (r->tty && !r->done) { /* at the prompt: drop what was typed */
    rl_replace_line("", 0);
    rl_callback_handler_remove();
    fputs("\n", stdout);
    fflush(stdout);
    tty_prompt(r);
  }
}

/* ---- completion ---- */

static char *next_completion(const char *text, int state) {
  (void)text;
  repl *r = g_repl;
  if (!state) r->next_completion = 0;
  if (r->next_completion >= r->ncompletions) return NULL;
  return strdup(r->completions[r->next_completion++]);
}

static void free_completions(repl *r) {
  for (size_t i = 0; i < r->ncompletions; i++) free(r->completions[i]);
  free(r->completions);
  r->completions = NULL;
  r->ncompletions = 0;
}

static char **complete(const char *text, int start, int end) {
  (void)start;
  (void)end;
  repl *r = g_repl;
  lua_State *L = r->host->L;
  rl_attempted_completion_over = 1; /* never fall back to file names */
  free_completions(r);
  lua_pushstring(L, text);
  if (call_lib(r, "complete", 1, 1) != LUA_OK || !lua_istable(L, -1)) {
    lua_pop(L, 1);
    return NULL;
  }
  size_t n = (size_t)luaL_len(L, -1);
  r->completions = calloc(n ? n : 1, sizeof *r->completions);
  for (size_t i = 0; r->completions && i < n; i++) {
    lua_geti(L, -1, (lua_Integer)i + 1);
    const char *s = lua_tostring(L, -1);
    if (s && (r->completions[r->ncompletions] = strdup(s))) r->ncompletions++;
    lua_pop(L, 1);
  }
  lua_pop(L, 1);
  if (!r->ncompletions) return NULL;
  return rl_completion_matches(text, next_completion);
}

/* ---- set-up ---- */

int th_repl_start(th_host *host, th_err *err) {
  lua_State *L = host->L;
  repl *r = calloc(1, sizeof *r);
  if (!r) return th_err_set(err, TH_ENOMEM, "repl: out of memory");
  if (th_host_load_embedded(L, "scripts/teehost/repl.lua") != LUA_OK || lua_pcall(L, 0, 1, 0) != LUA_OK) {
    th_err_set(err, TH_EIO, "repl: %s", lua_tostring(L, -1));
    lua_pop(L, 1);
    free(r);
    return -1;
  }
  r->lib_ref = luaL_ref(L, LUA_REGISTRYINDEX);
  r->host = host;
  r->tty = isatty(0) && isatty(1);
  r->read_job.run = read_next_line;
  g_repl = r;
  host->mode = TH_MODE_REPL;
  host->mode_data = r;
  host->on_interrupt = repl_interrupt;
  if (r->tty) {
    th_err herr;
    char home[PATH_MAX - 16];
    if (th_host_home(home, sizeof home, &herr) == 0)
      snprintf(r->history, sizeof r->history, "%s/history", home);
    else
      fprintf(stderr, "teehost: no history: %s\n", herr.message);
    rl_readline_name = "teehost";
    rl_catch_signals = 0;
    rl_basic_word_break_characters = " \t\n\"\\'`@$><=;|&{(,+-*/%^#~[]";
    rl_completion_append_character = '\0';
    rl_attempted_completion_function = complete;
    using_history();
    stifle_history(1000);
    if (*r->history) {
      read_history(r->history);
      int fd = open(r->history, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd >= 0) { /* created 0600 before libedit writes it; an old one is tightened */
        fchmod(fd, 0600);
        close(fd);
      }
    }
    printf("teehost %s (Lua 5.4) — Ctrl-D to leave, Ctrl-C to interrupt\n", TEEHOST_VERSION);
    /* using_history() above initialized libedit (calling rl_initialize again would leak). */
    /* libedit's edit mode turns ISIG off, which makes Ctrl-C a key it ignores: keep it a
     * signal, so that it reaches repl_interrupt at the prompt as well as during a line. */
    rl_parse_and_bind("setty -d +isig");
    uv_poll_init(th_loop_uv(host->loop), &r->poll, 0);
    r->poll_open = 1;
  }
  input_resume(r);
  return 0;
}

void th_repl_free(th_host *host) {
  repl *r = host->mode_data;
  if (!r) return;
  if (r->tty) rl_callback_handler_remove();
  if (r->poll_open) {
    uv_close((uv_handle_t *)&r->poll, NULL);
    r->poll_open = 0;
  }
  uv_run(th_loop_uv(host->loop), UV_RUN_NOWAIT); /* let the poll's close finish before free */
  th_sched_unpost(host, &r->read_job);
  luaL_unref(host->L, LUA_REGISTRYINDEX, r->lib_ref);
  free_completions(r);
  clear_pending(r);
  g_repl = NULL;
  host->mode_data = NULL;
  free(r);
}
