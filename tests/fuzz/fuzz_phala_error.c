/* tests/fuzz/fuzz_phala_error.c — libFuzzer target for the wording of Phala Cloud error answers
 * (core/phala_api.c th_phala_error_message), which reads untrusted JSON bodies of every shape the
 * API uses (detail as a string, as a list of validation errors, as an object; or no JSON at all).
 * Properties: the message is NUL-terminated inside the buffer, starts with "Phala Cloud: ", and
 * a tiny buffer is never overrun. The first input byte picks the HTTP status. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "phala_api.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 1) return 0;
  static const long statuses[] = {400, 401, 403, 404, 409, 422, 429, 500, 502, 503, 0, 999};
  long status = statuses[data[0] % (sizeof statuses / sizeof *statuses)];
  char *body = malloc(size); /* exact size, no NUL: the parser must respect body_len */
  if (!body) return 0;
  memcpy(body, data + 1, size - 1);
  char buf[256];
  th_phala_error_message(buf, sizeof buf, status, body, size - 1);
  if (!memchr(buf, '\0', sizeof buf) || strncmp(buf, "Phala Cloud: ", 13) != 0) abort();
  char tiny[8];
  th_phala_error_message(tiny, sizeof tiny, status, body, size - 1);
  if (!memchr(tiny, '\0', sizeof tiny)) abort();
  free(body);
  return 0;
}
