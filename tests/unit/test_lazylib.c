/* tests/unit/test_lazylib.c — loading libraries on first use: success, a missing library, a
 * missing symbol; and that the libcurl and libmicrohttpd shims load the real libraries. */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>
#include <curl/curl.h>
#include <microhttpd.h>

#include "lazy_curl.h"
#include "lazy_mhd.h"
#include "lazylib.h"

static void loads_a_library_and_calls_through_it(void **state) {
  (void)state;
  static const char *const names[] = {"cos", NULL};
  static void *syms[1];
  th_lazylib lib = {"libm.so.6", names, syms, PTHREAD_ONCE_INIT, 0, {0}};
  th_err err = {0};
  assert_int_equal(th_lazylib_load(&lib, "libc6", &err), 0);
  assert_true(th_lazylib_ready(&lib));
  assert_true(TH_LAZY_REAL(&lib, 0, cos)(0.0) == 1.0);
}

static void a_missing_library_is_a_clear_error(void **state) {
  (void)state;
  static const char *const names[] = {"anything", NULL};
  static void *syms[1];
  th_lazylib lib = {"libteehost-missing.so.9", names, syms, PTHREAD_ONCE_INIT, 0, {0}};
  th_err err = {0};
  assert_int_equal(th_lazylib_load(&lib, "teehost-missing9", &err), -1);
  assert_int_equal(err.code, TH_EIO);
  assert_non_null(strstr(err.message, "libteehost-missing.so.9 cannot be loaded: "));
  assert_non_null(strstr(err.message, "install the Debian package teehost-missing9"));
  assert_false(th_lazylib_ready(&lib)); /* stays failed, no retry storm */
}

static void a_missing_symbol_is_a_clear_error(void **state) {
  (void)state;
  static const char *const names[] = {"cos", "teehost_no_such_symbol", NULL};
  static void *syms[2];
  th_lazylib lib = {"libm.so.6", names, syms, PTHREAD_ONCE_INIT, 0, {0}};
  th_err err = {0};
  assert_int_equal(th_lazylib_load(&lib, "libc6", &err), -1);
  assert_non_null(strstr(err.message, "libm.so.6 has no symbol teehost_no_such_symbol"));
}

static void the_curl_and_mhd_shims_reach_the_real_libraries(void **state) {
  (void)state;
  th_err err = {0};
  assert_int_equal(th_lazy_curl_load(&err), 0);
  assert_int_equal(th_lazy_mhd_load(&err), 0);
  const curl_version_info_data *v = curl_version_info(CURLVERSION_NOW);
  assert_non_null(v);
  assert_string_equal(v->version, LIBCURL_VERSION);
  assert_non_null(strstr(MHD_get_version(), "0."));
  assert_string_equal(curl_easy_strerror(CURLE_OK), "No error");
  /* A variadic setter with each argument kind: long, pointer, function pointer, off_t. */
  CURL *h = curl_easy_init();
  assert_non_null(h);
  assert_int_equal(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 1000L), CURLE_OK);
  assert_int_equal(curl_easy_setopt(h, CURLOPT_URL, "http://127.0.0.1/"), CURLE_OK);
  assert_int_equal(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, (curl_write_callback)NULL), CURLE_OK);
  assert_int_equal(curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)5), CURLE_OK);
  long code = -1;
  assert_int_equal(curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code), CURLE_OK);
  assert_int_equal(code, 0);
  curl_easy_cleanup(h);
}

int main(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(loads_a_library_and_calls_through_it),
      cmocka_unit_test(a_missing_library_is_a_clear_error),
      cmocka_unit_test(a_missing_symbol_is_a_clear_error),
      cmocka_unit_test(the_curl_and_mhd_shims_reach_the_real_libraries),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
