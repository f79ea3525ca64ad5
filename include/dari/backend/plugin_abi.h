/* C ABI for out-of-tree backends (e.g. an NPU vendor's shared library loaded with dlopen).
 *
 * A plugin exports one function, `dari_backend_plugin_v1` (type DariPluginEntryFn), returning a
 * pointer to a static DariBackendPlugin table. dari checks abi_version and struct_size before
 * using any other field. All memory passed across the ABI is owned by the caller for the
 * duration of the call, except buffers from alloc(), which the plugin owns until free().
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

#define DARI_PLUGIN_ABI_VERSION 1u
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
  void* data;
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

typedef struct DariDeviceInfo {
  char name[64];
  char description[128];
  uint64_t memory_bytes;   /* total device memory, 0 if unknown */
  int32_t host_memory;     /* 1 if buffers are plain host memory usable by the CPU */
} DariDeviceInfo;

typedef struct DariBackendPlugin {
  uint32_t abi_version; /* DARI_PLUGIN_ABI_VERSION */
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

/* The CPU backend's own table (always linked in dari_backend), used by the conformance test. */
const DariBackendPlugin* dari_cpu_backend_plugin(void);

#ifdef __cplusplus
}
#endif

#endif /* DARI_BACKEND_PLUGIN_ABI_H_ */
