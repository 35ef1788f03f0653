/* tests/fuzz/fuzz_simulator_rpc.c — libFuzzer target for the simulator's RPC layer
 * (th_simulator_call: routing, JSON and query-string request decoding, every handler).
 *
 * Input: a first line "METHOD PATH[?QUERY]" (or just a path), then the request body. One
 * simulator, opened on the first input in a fresh temp directory (removed at exit), answers
 * every input. Every answer must be status 200, 400 or 404 with an ASCII JSON body (or `null`),
 * and a 400 must carry the agent's pretty {"error": …} envelope. Any violation: abort(). */
#include <cJSON.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "simulator.h"

static th_simulator *sim;
static char dir[64];

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st, (void)flag, (void)ftw;
  return remove(path);
}

static void cleanup(void) {
  th_simulator_free(sim);
  nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static void fail(const char *what, const char *body) {
  fprintf(stderr, "fuzz_simulator_rpc: %s\nbody: %.300s\n", what, body ? body : "(none)");
  abort();
}

static void open_once(void) {
  if (sim) return;
  snprintf(dir, sizeof dir, "/tmp/th-fuzz-sim.XXXXXX");
  if (!mkdtemp(dir)) fail("mkdtemp", NULL);
  th_simulator_opts o = {.dir = dir};
  th_err err = {0};
  if (!(sim = th_simulator_open(&o, &err))) fail(err.message, NULL);
  atexit(cleanup);
}

static void check(int status, const char *resp, size_t len) {
  if (status != 200 && status != 400 && status != 404) fail("unexpected status", resp);
  if (strlen(resp) != len) fail("length mismatch", resp);
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)resp[i] >= 0x80) fail("non-ASCII answer", resp);
  if (strcmp(resp, "null") != 0) {
    cJSON *j = cJSON_ParseWithLength(resp, len);
    if (!j) fail("answer is not JSON", resp);
    cJSON_Delete(j);
  }
  if (status == 400 && strncmp(resp, "{\n  \"error\": \"", 14) != 0)
    fail("bad error envelope", resp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  open_once();
  const char *nl = memchr(data, '\n', size);
  size_t line_len = nl ? (size_t)(nl - (const char *)data) : size;
  char *line = malloc(line_len + 1);
  if (!line) return 0;
  memcpy(line, data, line_len);
  line[line_len] = '\0';
  const char *method = "POST", *path = line, *query = NULL;
  char *sp = strchr(line, ' ');
  if (sp) {
    *sp = '\0';
    method = line;
    path = sp + 1;
  }
  char *q = strchr((char *)path, '?');
  if (q) *q = '\0', query = q + 1;
  const char *body = nl ? nl + 1 : "";
  size_t body_len = nl ? size - line_len - 1 : 0;
  int status = 0;
  char *resp = NULL;
  size_t rlen = 0;
  if (th_simulator_call(sim, method, path, query, "application/json", body, body_len, &status,
                        &resp, &rlen) != 0)
    fail("out of memory", NULL);
  check(status, resp, rlen);
  free(resp);
  free(line);
  return 0;
}
