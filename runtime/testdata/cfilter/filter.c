// A Proxy-Wasm HTTP filter written in plain C against the ABI v0.2.1
// specification (proxy-wasm/spec, abi-versions/v0.2.1), with no SDK. It exists
// to prove that nicrt's runtime loads guests built by a non-Go toolchain:
// clang --target=wasm32-wasi, wasi-libc, lld, as a WASI reactor (build.sh).
//
// Behaviour:
//   - plugin configuration: the raw bytes are the value of the header below
//     (empty configuration: "1"); it must be a valid header value;
//   - request headers: adds "x-c-filter: <value>"; a request for /c-deny
//     (optionally with a query) gets a local 403 and the stream pauses;
//   - response headers: adds "x-c-filter-path: <request path>";
//   - log: one info line per request with its path.
// Memory the host hands to the guest through proxy_on_memory_allocate belongs
// to the guest: every such buffer is freed here, or kept and freed later.
//
// cfilter_loop is not part of the ABI: it is a loop of known shape for
// instruction-counting tests (runtime/internal/icount).

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define WASM_EXPORT(name) __attribute__((export_name(#name)))
#define WASM_IMPORT(name) __attribute__((import_module("env"), import_name(#name)))

// ABI types (spec section "Types").
enum proxy_status { PROXY_OK = 0, PROXY_NOT_FOUND = 1 };
enum proxy_log_level { LOG_TRACE, LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR, LOG_CRITICAL };
enum proxy_action { ACTION_CONTINUE = 0, ACTION_PAUSE = 1 };
enum proxy_buffer_type { BUFFER_VM_CONFIGURATION = 6, BUFFER_PLUGIN_CONFIGURATION = 7 };
enum proxy_map_type { MAP_REQUEST_HEADERS = 0, MAP_RESPONSE_HEADERS = 2 };

// Host functions (module "env"), each returning a proxy_status.
WASM_IMPORT(proxy_log)
uint32_t proxy_log(uint32_t level, const char *message, size_t message_size);
WASM_IMPORT(proxy_get_buffer_bytes)
uint32_t proxy_get_buffer_bytes(uint32_t buffer, size_t start, size_t max_size,
                                uint8_t **value, size_t *value_size);
WASM_IMPORT(proxy_get_header_map_value)
uint32_t proxy_get_header_map_value(uint32_t map, const char *key, size_t key_size,
                                    uint8_t **value, size_t *value_size);
WASM_IMPORT(proxy_add_header_map_value)
uint32_t proxy_add_header_map_value(uint32_t map, const char *key, size_t key_size,
                                    const uint8_t *value, size_t value_size);
WASM_IMPORT(proxy_send_local_response)
uint32_t proxy_send_local_response(uint32_t status_code, const char *details, size_t details_size,
                                   const uint8_t *body, size_t body_size,
                                   const uint8_t *headers, size_t headers_size,
                                   int32_t grpc_status);

#define STR(s) (s), (sizeof(s) - 1)

static const char filter_header[] = "x-c-filter";
static const char path_header[] = "x-c-filter-path";
static const char deny_path[] = "/c-deny";

// The configured header value: a host-allocated buffer the guest now owns.
static uint8_t *config_value;
static size_t config_size;

// One request in flight: its context id and the :path buffer the host gave
// us (kept until proxy_on_delete, then freed).
struct stream {
  uint32_t id;
  uint8_t *path;
  size_t path_size;
  struct stream *next;
};
static struct stream *streams;

static struct stream *find_stream(uint32_t id) {
  for (struct stream *s = streams; s != NULL; s = s->next) {
    if (s->id == id) return s;
  }
  return NULL;
}

// log_parts logs the concatenation of up to three byte strings.
static void log_parts(uint32_t level, const char *a, size_t an, const void *b, size_t bn,
                      const char *c, size_t cn) {
  char *msg = malloc(an + bn + cn + 1);
  if (msg == NULL) return;
  memcpy(msg, a, an);
  if (bn) memcpy(msg + an, b, bn);
  if (cn) memcpy(msg + an + bn, c, cn);
  proxy_log(level, msg, an + bn + cn);
  free(msg);
}

static void log_str(uint32_t level, const char *s) { proxy_log(level, s, strlen(s)); }

WASM_EXPORT(proxy_abi_version_0_2_1)
void proxy_abi_version_0_2_1(void) {}

// proxy_on_memory_allocate lets the host place data in guest memory; the
// guest frees it when done.
WASM_EXPORT(proxy_on_memory_allocate)
void *proxy_on_memory_allocate(size_t size) { return malloc(size); }

WASM_EXPORT(proxy_on_context_create)
void proxy_on_context_create(uint32_t context_id, uint32_t parent_context_id) {
  if (parent_context_id == 0) return; // the root (plugin) context
  struct stream *s = calloc(1, sizeof *s);
  if (s == NULL) return;
  s->id = context_id;
  s->next = streams;
  streams = s;
}

WASM_EXPORT(proxy_on_vm_start)
uint32_t proxy_on_vm_start(uint32_t root_context_id, size_t vm_configuration_size) {
  (void)root_context_id;
  (void)vm_configuration_size;
  log_str(LOG_INFO, "c filter: vm started");
  return 1;
}

// valid_header_value rejects bytes that would break an HTTP/1.1 header line.
static int valid_header_value(const uint8_t *v, size_t n) {
  for (size_t i = 0; i < n; i++) {
    if (v[i] == '\r' || v[i] == '\n' || v[i] == '\0') return 0;
  }
  return 1;
}

WASM_EXPORT(proxy_on_configure)
uint32_t proxy_on_configure(uint32_t root_context_id, size_t configuration_size) {
  (void)root_context_id;
  uint8_t *data = NULL;
  size_t size = 0;
  if (configuration_size > 0) {
    uint32_t st = proxy_get_buffer_bytes(BUFFER_PLUGIN_CONFIGURATION, 0, configuration_size,
                                         &data, &size);
    if (st != PROXY_OK) {
      log_str(LOG_ERROR, "c filter: cannot read the plugin configuration");
      return 0;
    }
  }
  if (size > 0 && !valid_header_value(data, size)) {
    free(data);
    log_str(LOG_ERROR, "c filter: configuration is not a valid header value");
    return 0;
  }
  free(config_value);
  config_value = size > 0 ? data : NULL;
  config_size = size;
  if (size == 0) free(data);
  if (config_value == NULL) {
    log_str(LOG_INFO, "c filter: configured x-c-filter=1 (default)");
  } else {
    log_parts(LOG_INFO, STR("c filter: configured x-c-filter="), config_value, config_size,
              STR(""));
  }
  return 1;
}

static const uint8_t *header_value(size_t *n) {
  if (config_value == NULL) {
    *n = 1;
    return (const uint8_t *)"1";
  }
  *n = config_size;
  return config_value;
}

static int is_deny_path(const uint8_t *p, size_t n) {
  size_t d = sizeof(deny_path) - 1;
  return n >= d && memcmp(p, deny_path, d) == 0 && (n == d || p[d] == '?');
}

// put_u32 stores a little-endian u32, as the header map serialization wants.
static uint8_t *put_u32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
  return p + 4;
}

// deny sends the local 403, carrying the filter header too.
static void deny(void) {
  size_t vn;
  const uint8_t *v = header_value(&vn);
  size_t kn = sizeof(filter_header) - 1;
  // One pair: count, key length, value length, key NUL value NUL.
  size_t size = 12 + kn + 1 + vn + 1;
  uint8_t *headers = malloc(size);
  if (headers == NULL) return;
  uint8_t *p = put_u32(put_u32(put_u32(headers, 1), (uint32_t)kn), (uint32_t)vn);
  memcpy(p, filter_header, kn);
  p[kn] = 0;
  memcpy(p + kn + 1, v, vn);
  p[kn + 1 + vn] = 0;
  static const char body[] = "denied by the c filter\n";
  proxy_send_local_response(403, STR("c_filter_denied"), (const uint8_t *)body,
                            sizeof(body) - 1, headers, size, -1);
  free(headers);
}

WASM_EXPORT(proxy_on_request_headers)
uint32_t proxy_on_request_headers(uint32_t context_id, size_t num_headers, uint32_t end_of_stream) {
  (void)num_headers;
  (void)end_of_stream;
  uint8_t *path = NULL;
  size_t path_size = 0;
  if (proxy_get_header_map_value(MAP_REQUEST_HEADERS, STR(":path"), &path, &path_size) !=
      PROXY_OK) {
    path = NULL;
    path_size = 0;
  }
  struct stream *s = find_stream(context_id);
  if (s != NULL) {
    free(s->path);
    s->path = path;
    s->path_size = path_size;
  }
  if (path != NULL && is_deny_path(path, path_size)) {
    log_parts(LOG_INFO, STR("c filter: denying "), path, path_size, STR(""));
    if (s == NULL) free(path);
    deny();
    return ACTION_PAUSE;
  }
  size_t vn;
  const uint8_t *v = header_value(&vn);
  proxy_add_header_map_value(MAP_REQUEST_HEADERS, STR(filter_header), v, vn);
  if (s == NULL) free(path);
  return ACTION_CONTINUE;
}

WASM_EXPORT(proxy_on_response_headers)
uint32_t proxy_on_response_headers(uint32_t context_id, size_t num_headers,
                                   uint32_t end_of_stream) {
  (void)num_headers;
  (void)end_of_stream;
  struct stream *s = find_stream(context_id);
  if (s != NULL && s->path != NULL) {
    proxy_add_header_map_value(MAP_RESPONSE_HEADERS, STR(path_header), s->path, s->path_size);
  }
  return ACTION_CONTINUE;
}

WASM_EXPORT(proxy_on_log)
void proxy_on_log(uint32_t context_id) {
  struct stream *s = find_stream(context_id);
  if (s == NULL) return;
  if (s->path != NULL) {
    log_parts(LOG_INFO, STR("c filter: done "), s->path, s->path_size, STR(""));
  } else {
    log_str(LOG_INFO, "c filter: done (no :path)");
  }
}

WASM_EXPORT(proxy_on_done)
uint32_t proxy_on_done(uint32_t context_id) {
  (void)context_id;
  return 1; // nothing pending: the host may log and delete the context
}

WASM_EXPORT(proxy_on_delete)
void proxy_on_delete(uint32_t context_id) {
  for (struct stream **pp = &streams; *pp != NULL; pp = &(*pp)->next) {
    struct stream *s = *pp;
    if (s->id == context_id) {
      *pp = s->next;
      free(s->path);
      free(s);
      return;
    }
  }
}

// cfilter_loop runs n rounds of a xorshift generator: a loop whose body has
// a fixed instruction count per iteration (unrolling and vectorization are
// disabled, so the count is exactly a + b*n), and whose result cannot be
// computed in closed form by the compiler.
WASM_EXPORT(cfilter_loop)
uint32_t cfilter_loop(uint32_t n) {
  uint32_t x = 2463534242u;
#pragma clang loop unroll(disable) vectorize(disable)
  for (uint32_t i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
  }
  return x;
}

// cfilter_streams reports how many stream contexts the guest tracks, so a
// test can check that proxy_on_delete releases them.
WASM_EXPORT(cfilter_streams)
uint32_t cfilter_streams(void) {
  uint32_t n = 0;
  for (struct stream *s = streams; s != NULL; s = s->next) n++;
  return n;
}
