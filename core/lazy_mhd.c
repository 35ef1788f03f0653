/* core/lazy_mhd.c — the libmicrohttpd functions teehost calls, loaded on first use (see
 * lazylib.h). Each definition has the prototype of <microhttpd.h>, so the compiler checks it.
 * Variadic calls: MHD_start_daemon forwards its option list through MHD_start_daemon_va; the
 * info getters forward no extra arguments, which no info type teehost asks for takes. */
#include <stdarg.h>
#include <stdint.h>
#include <sys/socket.h>
#include <microhttpd.h>

#include "lazy_mhd.h"
#include "lazylib.h"

#define MHD_SYMBOLS(X)                                                                          \
  X(MHD_start_daemon_va) X(MHD_stop_daemon) X(MHD_run) X(MHD_get_timeout) X(MHD_get_daemon_info) \
  X(MHD_get_version) X(MHD_is_feature_supported) X(MHD_get_connection_info)                     \
  X(MHD_get_connection_values) X(MHD_get_connection_values_n) X(MHD_lookup_connection_value)    \
  X(MHD_suspend_connection) X(MHD_resume_connection) X(MHD_queue_response)                      \
  X(MHD_create_response_from_buffer) X(MHD_add_response_header) X(MHD_destroy_response)

#define INDEX(name) I_##name,
enum { MHD_SYMBOLS(INDEX) N_SYMBOLS };
#define NAME(name) #name,
static const char *const names[] = {MHD_SYMBOLS(NAME) NULL};
static void *syms[N_SYMBOLS];
static th_lazylib lib = {"libmicrohttpd.so.12", names, syms, PTHREAD_ONCE_INIT, 0, {0}};

#define READY() th_lazylib_ready(&lib)
#define REAL(name) TH_LAZY_REAL(&lib, I_##name, name)

int th_lazy_mhd_load(th_err *err) { return th_lazylib_load(&lib, "libmicrohttpd12", err); }

struct MHD_Daemon *MHD_start_daemon(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                    void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls, ...) {
  if (!READY()) return NULL;
  va_list ap;
  va_start(ap, dh_cls);
  struct MHD_Daemon *d = REAL(MHD_start_daemon_va)(flags, port, apc, apc_cls, dh, dh_cls, ap);
  va_end(ap);
  return d;
}

struct MHD_Daemon *MHD_start_daemon_va(unsigned int flags, uint16_t port, MHD_AcceptPolicyCallback apc,
                                       void *apc_cls, MHD_AccessHandlerCallback dh, void *dh_cls,
                                       va_list ap) {
  return READY() ? REAL(MHD_start_daemon_va)(flags, port, apc, apc_cls, dh, dh_cls, ap) : NULL;
}

void MHD_stop_daemon(struct MHD_Daemon *d) {
  if (READY()) REAL(MHD_stop_daemon)(d);
}
enum MHD_Result MHD_run(struct MHD_Daemon *d) { return READY() ? REAL(MHD_run)(d) : MHD_NO; }
enum MHD_Result MHD_get_timeout(struct MHD_Daemon *d, MHD_UNSIGNED_LONG_LONG *timeout) {
  return READY() ? REAL(MHD_get_timeout)(d, timeout) : MHD_NO;
}
const union MHD_DaemonInfo *MHD_get_daemon_info(struct MHD_Daemon *d, enum MHD_DaemonInfoType type, ...) {
  return READY() ? REAL(MHD_get_daemon_info)(d, type) : NULL;
}
const char *MHD_get_version(void) { return READY() ? REAL(MHD_get_version)() : "not loaded"; }
enum MHD_Result MHD_is_feature_supported(enum MHD_FEATURE feature) {
  return READY() ? REAL(MHD_is_feature_supported)(feature) : MHD_NO;
}

const union MHD_ConnectionInfo *MHD_get_connection_info(struct MHD_Connection *c,
                                                        enum MHD_ConnectionInfoType type, ...) {
  return READY() ? REAL(MHD_get_connection_info)(c, type) : NULL;
}
int MHD_get_connection_values(struct MHD_Connection *c, enum MHD_ValueKind kind,
                              MHD_KeyValueIterator it, void *cls) {
  return READY() ? REAL(MHD_get_connection_values)(c, kind, it, cls) : -1;
}
int MHD_get_connection_values_n(struct MHD_Connection *c, enum MHD_ValueKind kind,
                                MHD_KeyValueIteratorN it, void *cls) {
  return READY() ? REAL(MHD_get_connection_values_n)(c, kind, it, cls) : -1;
}
const char *MHD_lookup_connection_value(struct MHD_Connection *c, enum MHD_ValueKind kind, const char *key) {
  return READY() ? REAL(MHD_lookup_connection_value)(c, kind, key) : NULL;
}
void MHD_suspend_connection(struct MHD_Connection *c) {
  if (READY()) REAL(MHD_suspend_connection)(c);
}
void MHD_resume_connection(struct MHD_Connection *c) {
  if (READY()) REAL(MHD_resume_connection)(c);
}
enum MHD_Result MHD_queue_response(struct MHD_Connection *c, unsigned int status, struct MHD_Response *r) {
  return READY() ? REAL(MHD_queue_response)(c, status, r) : MHD_NO;
}

struct MHD_Response *MHD_create_response_from_buffer(size_t size, void *buffer, enum MHD_ResponseMemoryMode mode) {
  return READY() ? REAL(MHD_create_response_from_buffer)(size, buffer, mode) : NULL;
}
enum MHD_Result MHD_add_response_header(struct MHD_Response *r, const char *header, const char *content) {
  return READY() ? REAL(MHD_add_response_header)(r, header, content) : MHD_NO;
}
void MHD_destroy_response(struct MHD_Response *r) {
  if (READY()) REAL(MHD_destroy_response)(r);
}
