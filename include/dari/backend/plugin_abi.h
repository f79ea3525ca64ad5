/* C ABI for backends (e.g. an NPU vendor's shared library loaded with dlopen).
 *
 * Two table versions exist. v2 (DariBackendPluginV2, entry `dari_backend_plugin_v2`, documented
 * further down) has devices, device memory and whole-graph submission; every backend dari ships,
 * the CPU included, is reached through it. v1 (DariBackendPlugin, entry `dari_backend_plugin_v1`)
 * passes host pointers one op at a time; dari still loads v1 plugins as host-memory backends.
 * dari checks abi_version and struct_size before using any other field.
 * Ops are described exactly like the C++ descriptors in dari/backend/backend.h (which uses these
 * structs directly), so a plugin sees the same views and parameters as the CPU backend.
 *
 * Thread safety: dari calls one plugin context from one thread at a time.
 * Plain C (C99); no C++ types cross this boundary.
 */
#ifndef DARI_BACKEND_PLUGIN_ABI_H_
#define DARI_BACKEND_PLUGIN_ABI_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DARI_PLUGIN_ABI_VERSION 1u /* the v1 table below; v2 is DARI_PLUGIN_ABI_VERSION_2 */
#define DARI_PLUGIN_ENTRY_NAME "dari_backend_plugin_v1"

/* Op kinds; numbers are part of the ABI. */
enum DariOpKind {
  DARI_OP_MATMUL = 0,     /* dst[M][N] = src1[M][K] (F32) x src0[N][K]^T (weights, any type) */
  DARI_OP_RMS_NORM = 1,   /* dst = src0 / rms(src0 row) * src1 (src1 [ne0] F32, optional) */
  DARI_OP_ROPE = 2,       /* src0 [head_dim][n_heads][M] F32, rotated by positions[M] */
  DARI_OP_SOFTMAX = 3,    /* per row of src0, times scale before exp */
  DARI_OP_SILU_MUL = 4,   /* dst = silu(src0) * src1 */
  DARI_OP_ADD = 5,        /* dst = src0 + src1 (src1 may have 1 row: broadcast) */
  DARI_OP_MUL = 6,        /* dst = src0 * src1 (src1 may have 1 row: broadcast) */
  DARI_OP_GET_ROWS = 7,   /* dst[i] = float(src0[row_ids[i]]) */
  DARI_OP_SET_ROWS = 8,   /* dst[row_ids[i]] = convert(src0[i]) (F32 -> dst type) */
  DARI_OP_ATTENTION = 9,  /* causal GQA attention over paged K/V (see DariAttentionParams) */
  DARI_OP_COPY = 10,      /* dst = convert(src0), same shape, any type pair with float path */
  DARI_OP_COUNT = 11
};

typedef struct DariTensorView {
  void* data; /* address in the owning device's address space (v1: host memory) */
  uint32_t type; /* GGUF/ggml type id */
  uint32_t reserved;
  int64_t ne[4];
  uint64_t nb[4];
} DariTensorView;

enum DariRopeMode { DARI_ROPE_NORMAL = 0 /* adjacent pairs */, DARI_ROPE_NEOX = 1 /* halves */ };

typedef struct DariRopeParams {
  int32_t n_dims;              /* rotated dims per head (<= head_dim, even) */
  int32_t mode;                /* DariRopeMode */
  float freq_base;             /* theta base, e.g. 10000 */
  float freq_scale;            /* linear scaling: positions multiplied by this (1 = none) */
  const float* freq_factors;   /* optional [n_dims / 2]: each theta_i divided by factor i */
  const int32_t* positions;    /* [M] one per token (dim 2 of src0) */
} DariRopeParams;

/* Attention: q = src0 [head_dim][n_head][M] F32; K cache = src1, V cache = src2, each
 * [n_head_kv * head_dim][n_cache_rows] of the KV type; dst [head_dim][n_head][M] F32.
 * Row i belongs to sequence row_seq[i] and sits at position positions[i]; it attends to
 * positions 0..positions[i] of that sequence. Position p of sequence s is cache row
 * block_tables[s][p / block_tokens] * block_tokens + p % block_tokens. */
typedef struct DariAttentionParams {
  int32_t n_head;
  int32_t n_head_kv;
  int32_t block_tokens;
  int32_t n_seqs;
  float scale;                          /* usually 1 / sqrt(head_dim) */
  const int32_t* positions;             /* [M] */
  const int32_t* row_seq;               /* [M] index into block_tables */
  const int32_t* const* block_tables;   /* [n_seqs] physical block ids */
  const int32_t* block_counts;          /* [n_seqs] entries in each table */
} DariAttentionParams;

typedef struct DariOpParams {
  float eps;                 /* RMS_NORM */
  float scale;               /* SOFTMAX */
  const int32_t* row_ids;    /* GET_ROWS / SET_ROWS: [number of src0 rows or dst rows] */
  int64_t n_row_ids;
  DariRopeParams rope;
  DariAttentionParams attn;
} DariOpParams;

typedef struct DariOp {
  uint32_t kind; /* DariOpKind */
  uint32_t n_src;
  DariTensorView src[3];
  DariTensorView dst;
  DariOpParams params;
} DariOp;

/* ---- ABI v1 (host memory, one op per call). Still loaded; new plugins should use v2. ---- */

typedef struct DariDeviceInfo {
  char name[64];
  char description[128];
  uint64_t memory_bytes;   /* total device memory, 0 if unknown */
  int32_t host_memory;     /* 1 if buffers are plain host memory usable by the CPU */
} DariDeviceInfo;

typedef struct DariBackendPlugin {
  uint32_t abi_version; /* 1 */
  uint32_t struct_size; /* sizeof(DariBackendPlugin) as compiled by the plugin */
  const char* name;     /* registry name, e.g. "npu0" */
  /* Creates a context; n_threads is a hint (0 = default). Returns NULL on failure. */
  void* (*create)(uint32_t n_threads);
  void (*destroy)(void* ctx);
  int (*device_info)(void* ctx, DariDeviceInfo* out); /* 0 on success */
  void* (*alloc_buffer)(void* ctx, uint64_t bytes);   /* NULL when out of memory */
  void (*free_buffer)(void* ctx, void* ptr);
  /* 1 if op `kind` is supported with these types (src0, src1, ..., dst order), else 0. */
  int (*supports)(void* ctx, uint32_t kind, const uint32_t* types, uint32_t n_types);
  /* Runs one op synchronously; returns 0, or nonzero with a message written to err. */
  int (*run)(void* ctx, const DariOp* op, char* err, size_t err_len);
} DariBackendPlugin;

typedef const DariBackendPlugin* (*DariPluginEntryFn)(void);

/* ---- ABI v2: devices, device memory, whole graphs. ------------------------------------------
 *
 * A v2 plugin exports `dari_backend_plugin_v2` (DariPluginEntryV2Fn) returning a static
 * DariBackendPluginV2 table. Rules a plugin can rely on, and must follow:
 *
 * Versions. abi_version is the major version: dari refuses a table whose abi_version is not one
 *   it knows, with a message naming both versions. Every struct that crosses the ABI starts with
 *   (or, for the table, carries) struct_size: a later minor revision only appends fields, dari
 *   reads only the fields that fit in the struct_size the plugin reports, and a plugin reads only
 *   the fields that fit in the struct_size dari passes. Optional functions may be NULL.
 *
 * Addresses. alloc_buffer() returns a base address in the device's address space; the buffer
 *   covers [base, base + bytes). Tensor views (DariTensorView.data) point anywhere inside a
 *   buffer, and dari computes view addresses with plain pointer arithmetic but never dereferences
 *   them unless the device reports host_memory = 1. Buffers never overlap. A device without host
 *   memory typically hands out addresses from a private range (e.g. starting at 1 << 40) and maps
 *   an address back to (buffer, offset) with a sorted table.
 *
 * Op parameters. Pointers inside DariOpParams (positions, row ids, block tables, rope frequency
 *   factors) are host memory owned by dari, valid until compute() returns. A plugin copies what
 *   it needs to the device as part of compute(); these are small (a few ints per token).
 *
 * Graphs. compute() receives every op of one forward step in execution order; op i may read
 *   what op j < i wrote. The plugin may reorder, fuse or batch internally but must return only
 *   after all results are in device memory (one synchronisation per call). No host round trip is
 *   expected between ops.
 *
 * Errors. Functions return a DariStatus; on failure the context's last_error() returns a
 *   NUL-terminated message (owned by the plugin, valid until the next call on that context) that
 *   names the device, the op and the sizes involved.
 *
 * Threads. dari calls one context from one thread at a time (it may be a different thread from
 *   call to call). device_count() and device_info() may be called from any thread, before any
 *   context exists. A plugin may use its own worker threads inside a call.
 *
 * Memory ownership. Buffers belong to the context that allocated them; dari frees every buffer
 *   before destroy(). Host memory passed in (upload sources, op parameters) is borrowed for the
 *   call only.
 */

#define DARI_PLUGIN_ABI_VERSION_2 2u
#define DARI_PLUGIN_ENTRY_NAME_V2 "dari_backend_plugin_v2"

enum DariStatus {
  DARI_OK = 0,
  DARI_ERR_UNSUPPORTED = 1,   /* op, type or shape the device does not run */
  DARI_ERR_OUT_OF_MEMORY = 2, /* device memory exhausted (message gives the sizes) */
  DARI_ERR_DEVICE_LOST = 3,   /* the device failed; the context is unusable */
  DARI_ERR_INVALID = 4,       /* bad argument: address outside any buffer, bad view, ... */
  DARI_ERR_INTERNAL = 5       /* anything else */
};

enum DariDeviceKind {
  DARI_DEVICE_CPU = 0,
  DARI_DEVICE_GPU = 1,
  DARI_DEVICE_NPU = 2,
  DARI_DEVICE_OTHER = 3
};

/* Capability bits in DariDeviceInfoV2.caps. */
#define DARI_CAP_HOST_MEMORY 0x1u /* addresses are host pointers the CPU may dereference */
#define DARI_CAP_F16 0x2u         /* native 16-bit float arithmetic */
#define DARI_CAP_SUBGROUPS 0x4u   /* subgroup (warp/wave) reductions are used */
#define DARI_CAP_UNIFIED 0x8u     /* device memory is host-visible (integrated GPU, CPU) */
#define DARI_CAP_SOFTWARE 0x10u   /* a software implementation (e.g. a CPU Vulkan driver) */

typedef struct DariDeviceInfoV2 {
  uint32_t struct_size;   /* set by the caller to sizeof(DariDeviceInfoV2) */
  uint32_t kind;          /* DariDeviceKind */
  char name[64];          /* short, e.g. "Vulkan0" */
  char description[128];  /* e.g. "llvmpipe (LLVM 15.0.6, 256 bits)" */
  uint64_t memory_total;  /* bytes, 0 if unknown */
  uint64_t memory_free;   /* bytes, 0 if unknown */
  uint64_t max_buffer;    /* largest single alloc_buffer(), 0 if no limit */
  uint32_t caps;          /* DARI_CAP_* */
  uint32_t reserved;
} DariDeviceInfoV2;

/* Flags in DariCreateParams.flags. */
#define DARI_CREATE_NO_REPACK 0x1u /* pack_weight() must not make copies (llama.cpp --no-repack) */
#define DARI_CREATE_PROFILE 0x2u   /* time ops for op_profile() */
#define DARI_CREATE_REFERENCE 0x4u /* slowest, simplest kernels (conformance reference runs) */

typedef struct DariCreateParams {
  uint32_t struct_size; /* sizeof(DariCreateParams) */
  int32_t device;       /* index in [0, device_count()) */
  uint32_t n_threads;   /* host threads the plugin may use, 0 = its default */
  uint32_t flags;       /* DARI_CREATE_* */
} DariCreateParams;

typedef struct DariOpProfileEntry {
  char op[48];    /* e.g. "matmul Q4_0 m=1" */
  uint64_t calls;
  double seconds;
} DariOpProfileEntry;

typedef struct DariBackendPluginV2 {
  uint32_t abi_version; /* DARI_PLUGIN_ABI_VERSION_2 */
  uint32_t struct_size; /* sizeof(DariBackendPluginV2) as compiled by the plugin */
  const char* name;     /* registry name: "vulkan", "npu", ... ([a-z0-9_-], at most 31 chars) */

  /* Devices (any thread, no context needed). */
  int32_t (*device_count)(void);
  int32_t (*device_info)(int32_t device, DariDeviceInfoV2* out);

  /* Contexts. On failure create() returns a status, sets *ctx to NULL and writes a message. */
  int32_t (*create)(const DariCreateParams* params, void** ctx, char* err, size_t err_len);
  void (*destroy)(void* ctx);
  const char* (*last_error)(void* ctx);

  /* Memory. bytes may be 0 (returns a valid, empty buffer). */
  int32_t (*alloc_buffer)(void* ctx, uint64_t bytes, void** base);
  void (*free_buffer)(void* ctx, void* base);
  int32_t (*upload)(void* ctx, void* dst, const void* host_src, uint64_t bytes);
  int32_t (*download)(void* ctx, void* host_dst, const void* src, uint64_t bytes);
  int32_t (*copy)(void* ctx, void* dst, const void* src, uint64_t bytes); /* on the device */
  int32_t (*memory)(void* ctx, uint64_t* free_bytes, uint64_t* total_bytes);

  /* Ops. supports_op() looks at kind, types and shapes only (data pointers may be NULL):
   * 1 = compute() will run this op, 0 = the caller must place it elsewhere. */
  int32_t (*supports_op)(void* ctx, const DariOp* op);
  /* Optional. Declares `w` (inside a buffer of this context) a constant matmul weight; the
   * plugin may keep a private copy in a faster layout and read it whenever a matmul names this
   * exact view. *packed = 1 if it did (the caller may then free nothing: w stays valid). */
  int32_t (*pack_weight)(void* ctx, const DariTensorView* w, int32_t* packed);
  int32_t (*compute)(void* ctx, const DariOp* ops, uint32_t n_ops);

  /* Optional statistics. */
  uint64_t (*packed_bytes)(void* ctx);
  /* Writes up to cap entries (time per op kind since the last reset, largest first); returns
   * how many exist. */
  uint32_t (*op_profile)(void* ctx, DariOpProfileEntry* out, uint32_t cap);
  void (*reset_op_profile)(void* ctx);
} DariBackendPluginV2;

typedef const DariBackendPluginV2* (*DariPluginEntryV2Fn)(void);

/* The CPU backend's own tables (always linked in dari_backend). The registry's "cpu" backend is
 * the v2 table reached through the same adapter as any external plugin. */
const DariBackendPlugin* dari_cpu_backend_plugin(void);
const DariBackendPluginV2* dari_cpu_backend_plugin_v2(void);

#ifdef __cplusplus
}
#endif

#endif /* DARI_BACKEND_PLUGIN_ABI_H_ */
