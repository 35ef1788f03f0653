/* tests/fuzz/fuzz_pck.c — libFuzzer target for the hand-written DER walk of the PCK
 * certificate's SGX extension (core/pck.c) and for strict PEM chain splitting.
 *
 * The input is read as a DER certificate (mutations of the real PCK leaves of the vectors reach
 * the extension's bytes); when it decodes, th_pck_ext_parse must either fill every field or fail
 * with a "PCK certificate: …" message. The same bytes are also given to th_pem_chain_parse, which
 * must return at least one certificate or fail cleanly. */
#include <openssl/x509.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pck.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const unsigned char *p = data;
  X509 *x = size <= 1 << 16 ? d2i_X509(NULL, &p, (long)size) : NULL;
  if (x) {
    th_pck_ext ext;
    th_err err = {0};
    if (th_pck_ext_parse(x, &ext, &err) != 0) {
      if (strncmp(err.message, "PCK certificate", 15) != 0) abort();
    } else if (ext.sgx_type < 0) {
      abort();
    }
    (void)th_pck_ca_kind(x);
    X509_free(x);
  }
  th_err err = {0};
  STACK_OF(X509) *chain = th_pem_chain_parse((const char *)data, size, "fuzz", &err);
  if (chain) {
    if (sk_X509_num(chain) < 1) abort();
    sk_X509_pop_free(chain, X509_free);
  } else if (err.code != TH_EBADDATA && err.code != TH_ENOMEM) {
    abort();
  }
  return 0;
}
