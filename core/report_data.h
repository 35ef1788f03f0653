/* core/report_data.h — the 64 bytes of REPORTDATA that dstack puts in a quote, for each API
 * (shared/specs/dstack.md sections 3 and 5; vectors: tdxquote-report-data.json).
 *
 *  GetQuote / Attest: data right-padded with zeros to 64 bytes, no hashing (> 64: error).
 *  Tappd.TdxQuote:    H(tag ‖ ":" ‖ data) right-padded, tag = prefix or "app-data", H =
 *                     hash_algorithm or "sha512", one of sha256 sha384 sha512 sha3-256 sha3-384
 *                     sha3-512 keccak256 keccak384 keccak512 (original Keccak padding) raw ("raw":
 *                     data must be exactly 64 bytes, prefix ignored).
 *  Tappd.RawQuote:    data must be exactly 64 bytes.
 *  Typed (RA-TLS, KMS): SHA-512(tag ‖ ":" ‖ content), e.g. tag "ratls-cert".
 * Error messages are the agent's (they become HTTP 400 bodies): "Report data is too long",
 * "invalid content length", "invalid hash algorithm". Only th_report_data_tdx_quote allocates (an
 * OpenSSL digest context for the SHA-2/SHA-3 algorithms, freed before it returns; TH_ENOMEM if that
 * fails). */
#ifndef TH_REPORT_DATA_H
#define TH_REPORT_DATA_H

#include <stddef.h>
#include <stdint.h>

#include "error.h"

int th_report_data_padded(const uint8_t *data, size_t len, uint8_t out[64], th_err *err);

/* Fills out, and the algorithm and tag the response echoes: *effective_algorithm is a static
 * string ("sha512" when hash_algorithm is NULL or ""); *effective_prefix is the caller's prefix,
 * or the static "app-data" when it is NULL or "", or "" for raw. */
int th_report_data_tdx_quote(const char *hash_algorithm, const char *prefix, const uint8_t *data,
                             size_t len, uint8_t out[64], const char **effective_algorithm,
                             const char **effective_prefix, th_err *err);

int th_report_data_raw(const uint8_t *data, size_t len, uint8_t out[64], th_err *err);

/* SHA-512(tag ‖ ":" ‖ content). */
void th_report_data_typed(const char *tag, const uint8_t *content, size_t len, uint8_t out[64]);

#endif
