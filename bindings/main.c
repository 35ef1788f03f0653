/* bindings/main.c — the teehost command line: picks a command, runs it on a fresh host.
 *
 *   teehost SCRIPT.lua [args...] | teehost run SCRIPT [args...] | teehost -e CHUNK [args...]
 *   teehost repl | teehost help [COMMAND] | teehost --version | teehost COMMAND [args...]
 *   any of them after `--tee URL|PATH` (the TEE endpoint; DESIGN.md "The TEE endpoint")
 *
 * COMMAND is any embedded scripts/commands/<name>.lua (later issues add them); its first
 * lines `-- usage: …` and `-- summary: …` feed `teehost help`. Exit status: 0 ok, 1 script
 * error, 2 usage error, 130 interrupted. */
#include <cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <lauxlib.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <signal.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "embedded.h"
#include "host.h"
#include "repl.h"
#include "task.h"
#include "tee.h"

enum { EXIT_SCRIPT = 1, EXIT_USAGE = 2 };

typedef struct builtin {
  const char *name, *usage, *summary;
} builtin;

static const builtin builtins[] = {
    {"run", "teehost run SCRIPT [ARGS...]   (or: teehost SCRIPT.lua [ARGS...])",
     "run a Lua script on the loop; its main chunk is a coroutine"},
    {"repl", "teehost repl", "interactive prompt: expressions print, async calls work"},
    {"help", "teehost help [COMMAND]", "list the commands, or show one command's usage"},
    {"version", "teehost version   (or: teehost --version)", "print the versions of teehost and its libraries"},
    {NULL, NULL, NULL},
};

static const char *const options_list = "-e CHUNK, --tee URL|PATH, --version (-v), --help (-h)";

/* ---- script commands (scripts/commands/<name>.lua) ---- */

#define COMMAND_DIR "scripts/commands/"

/* Reads `-- key: value` from a script's leading comment into buf; "" if absent. */
static void command_meta(const th_embedded_file *f, const char *key, char *buf, size_t size) {
  *buf = 0;
  size_t klen = strlen(key);
  const char *p = f->data;
  while (strncmp(p, "-- ", 3) == 0) {
    const char *eol = strchr(p, '\n');
    size_t len = eol ? (size_t)(eol - p) : strlen(p);
    if (len > klen + 5 && strncmp(p + 3, key, klen) == 0 && p[3 + klen] == ':') {
      size_t vlen = len - klen - 5;
      snprintf(buf, size, "%.*s", (int)vlen, p + klen + 5);
      return;
    }
    if (!eol) break;
    p = eol + 1;
  }
}

static const th_embedded_file *find_command(const char *name) {
  size_t dlen = strlen(COMMAND_DIR), nlen = strlen(name);
  for (const th_embedded_file *f = th_embedded; f->path; f++)
    if (strncmp(f->path, COMMAND_DIR, dlen) == 0 && strncmp(f->path + dlen, name, nlen) == 0 &&
        strcmp(f->path + dlen + nlen, ".lua") == 0)
      return f;
  return NULL;
}

static void list_commands(FILE *out) {
  for (const builtin *b = builtins; b->name; b++) fprintf(out, "  %-10s %s\n", b->name, b->summary);
  size_t dlen = strlen(COMMAND_DIR);
  for (const th_embedded_file *f = th_embedded; f->path; f++) {
    if (strncmp(f->path, COMMAND_DIR, dlen) != 0) continue;
    char summary[200];
    command_meta(f, "summary", summary, sizeof summary);
    const char *name = f->path + dlen;
    fprintf(out, "  %-10.*s %s\n", (int)(strlen(name) - 4), name, summary);
  }
}

static void usage(FILE *out) {
  fprintf(out,
          "usage: teehost SCRIPT.lua [ARGS...]     run a Lua script\n"
          "       teehost -e CHUNK [ARGS...]       run a chunk of Lua\n"
          "       teehost COMMAND [ARGS...]\n\n"
          "Commands:\n");
  list_commands(out);
  fprintf(out,
          "\nOptions: %s\n"
          "Environment: TEEHOST_HOME (default ~/.teehost), TEEHOST_PATH (load scripts/ from "
          "this checkout),\n"
          "  TEE_MODE, DSTACK_SIMULATOR_ENDPOINT, TAPPD_SIMULATOR_ENDPOINT (which TEE; see README)\n"
          "Modules (globals, also via require): task, http, json, attest, phala, tee, store\n",
          options_list);
}

static int usage_error(const char *fmt, const char *what) {
  fprintf(stderr, "teehost: ");
  fprintf(stderr, fmt, what);
  fprintf(stderr, "\n");
  return EXIT_USAGE;
}

static int cmd_help(const char *topic) {
  if (!topic) {
    usage(stdout);
    return 0;
  }
  for (const builtin *b = builtins; b->name; b++)
    if (!strcmp(b->name, topic)) {
      printf("usage: %s\n\n%s\n", b->usage, b->summary);
      return 0;
    }
  const th_embedded_file *f = find_command(topic);
  if (f) {
    char use[300], summary[200];
    command_meta(f, "usage", use, sizeof use);
    command_meta(f, "summary", summary, sizeof summary);
    printf("usage: %s\n\n%s\n", *use ? use : topic, summary);
    return 0;
  }
  fprintf(stderr, "teehost: no command '%s'. Commands:\n", topic);
  list_commands(stderr);
  return EXIT_USAGE;
}

static int cmd_version(void) {
  const curl_version_info_data *curl = curl_version_info(CURLVERSION_NOW);
  printf("teehost %s (%s, libuv %s, libcurl %s, libmicrohttpd %s, cJSON %s, %s, libsodium %s)\n",
         TEEHOST_VERSION, LUA_RELEASE, uv_version_string(), curl->version, MHD_get_version(),
         cJSON_Version(), OpenSSL_version(OPENSSL_VERSION), sodium_version_string());
  return 0;
}

/* ---- running Lua ---- */

/* The main chunk's end: an error exits 1; an integer it returns becomes the exit status (so a
 * command script can `return 2` for a usage error), unless something already set one. */
static void main_done(th_host *host, th_task *t, lua_State *co, int ok, int nres, void *ud) {
  (void)t;
  (void)ud;
  if (!ok) {
    th_task_report_error(host, co, ""); /* exit status EXIT_SCRIPT */
    return;
  }
  if (nres >= 1 && lua_isinteger(co, -nres) && host->exit_code == 0) {
    lua_Integer code = lua_tointeger(co, -nres);
    host->exit_code = code >= 0 && code <= 255 ? (int)code : EXIT_SCRIPT;
  }
}

/* Sets the global `arg` like lua.c (arg[0] = script, arg[1..] = args) and pushes the args. */
static int push_args(lua_State *L, const char *script, int argc, char **argv) {
  lua_createtable(L, argc, 1);
  lua_pushstring(L, script);
  lua_rawseti(L, -2, 0);
  for (int i = 0; i < argc; i++) {
    lua_pushstring(L, argv[i]);
    lua_rawseti(L, -2, i + 1);
  }
  lua_setglobal(L, "arg");
  luaL_checkstack(L, argc, "too many arguments");
  for (int i = 0; i < argc; i++) lua_pushstring(L, argv[i]);
  return argc;
}

static const char *tee_flag; /* --tee URL|PATH: main's own argument, not state of a host */

/* A host with its TEE endpoint chosen (report: see th_tee_startup). An invalid TEE_MODE is a
 * start-up error: *status = 2. */
static th_host *new_host(int report, int *status) {
  th_err err = {0};
  th_host *host = th_host_new(&err);
  *status = EXIT_SCRIPT;
  if (!host) {
    fprintf(stderr, "teehost: %s\n", err.message);
    return NULL;
  }
  if (th_tee_startup(host, tee_flag, report, &err) != 0) {
    fprintf(stderr, "teehost: %s\n", err.message);
    th_host_free(host);
    *status = EXIT_USAGE;
    return NULL;
  }
  return host;
}

/* kind: 'f' file (path "-" = stdin), 'e' chunk, 'c' embedded command path. */
static int run_lua(int kind, const char *src, const char *name, int argc, char **argv) {
  int status;
  th_host *host = new_host(kind == 'c' ? TH_TEE_QUIET : TH_TEE_REPORT_ON_USE, &status);
  if (!host) return status;
  lua_State *L = host->L;
  int rc;
  if (kind == 'e')
    rc = luaL_loadbuffer(L, src, strlen(src), "=(command line)");
  else if (kind == 'c')
    rc = th_host_load_embedded(L, src);
  else
    rc = luaL_loadfile(L, strcmp(src, "-") == 0 ? NULL : src);
  if (rc != LUA_OK) {
    th_host_report(lua_tostring(L, -1));
    status = EXIT_SCRIPT;
  } else {
    int n = push_args(L, name, argc, argv);
    th_task_spawn(L, n, main_done, NULL);
    lua_pop(L, 1);
    th_host_run(host);
    status = host->exit_code;
  }
  th_host_free(host);
  return status;
}

static int cmd_repl(void) {
  int status;
  th_host *host = new_host(isatty(0) && isatty(2) ? TH_TEE_REPORT_NOW : TH_TEE_REPORT_ON_USE, &status);
  if (!host) return status;
  th_err err = {0};
  status = 0;
  if (th_repl_start(host, &err) != 0) {
    fprintf(stderr, "teehost: %s\n", err.message);
    status = EXIT_SCRIPT;
  } else {
    th_host_run(host);
    status = host->exit_code == 130 ? 130 : 0;
  }
  th_repl_free(host);
  th_host_free(host);
  return status;
}

static int is_script_path(const char *a) {
  size_t n = strlen(a);
  return strcmp(a, "-") == 0 || strchr(a, '/') || (n > 4 && strcmp(a + n - 4, ".lua") == 0);
}

/* Many concurrent connections need more descriptors than the usual soft limit of 1024. */
static void raise_fd_limit(void) {
  struct rlimit rl;
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max > 65536 ? 65536 : rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

/* A process started with stdin, stdout or stderr closed would hand those numbers to the first
 * sockets it opens, and libuv refuses to close descriptors 0-2 (it asserts). /dev/null fills the
 * gaps, as daemons do. */
static void open_standard_fds(void) {
  for (int fd = 0; fd <= 2; fd++)
    if (fcntl(fd, F_GETFD) == -1 && errno == EBADF && open("/dev/null", O_RDWR) != fd) _exit(EXIT_SCRIPT);
}

int main(int argc, char **argv) {
  open_standard_fds();
  signal(SIGPIPE, SIG_IGN); /* a closed socket is an error to report, not a reason to die */
  raise_fd_limit();
  if (argc >= 2 && !strncmp(argv[1], "--tee=", 6)) {
    tee_flag = argv[1] + 6;
    argv++, argc--;
  } else if (argc >= 2 && !strcmp(argv[1], "--tee")) {
    if (argc < 3) return usage_error("%s needs a dstack endpoint: a socket path or http://host:port", "--tee");
    tee_flag = argv[2];
    argv += 2, argc -= 2;
  }
  if (argc < 2) return isatty(0) ? cmd_repl() : run_lua('f', "-", "-", 0, NULL);
  const char *a = argv[1];
  if (!strcmp(a, "--version") || !strcmp(a, "-v") || !strcmp(a, "version")) return cmd_version();
  if (!strcmp(a, "--help") || !strcmp(a, "-h")) return cmd_help(NULL);
  if (!strcmp(a, "help")) return cmd_help(argc > 2 ? argv[2] : NULL);
  if (!strcmp(a, "-e")) {
    if (argc < 3) return usage_error("%s needs a chunk: teehost -e 'print(1)'", "-e");
    return run_lua('e', argv[2], "(command line)", argc - 3, argv + 3);
  }
  if (a[0] == '-' && a[1] != 0) {
    fprintf(stderr, "teehost: unknown option '%s'. Options: %s\n", a, options_list);
    return EXIT_USAGE;
  }
  if (!strcmp(a, "repl")) {
    if (argc > 2) return usage_error("repl takes no arguments (got '%s')", argv[2]);
    return cmd_repl();
  }
  if (!strcmp(a, "run")) {
    if (argc < 3) return usage_error("%s needs a script: teehost run SCRIPT.lua [ARGS...]", "run");
    return run_lua('f', argv[2], argv[2], argc - 3, argv + 3);
  }
  if (is_script_path(a)) return run_lua('f', a, a, argc - 2, argv + 2);
  const th_embedded_file *cmd = find_command(a);
  if (cmd) return run_lua('c', cmd->path, a, argc - 2, argv + 2);
  fprintf(stderr, "teehost: unknown command '%s'. Commands:\n", a);
  list_commands(stderr);
  fprintf(stderr, "(a script path needs a '/' or a .lua suffix)\n");
  return EXIT_USAGE;
}
