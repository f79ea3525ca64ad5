// The Vulkan plugin (src/backend/vulkan) loaded with dlopen, every op and weight type compared
// with the CPU plugin table (dari_cpu_backend_plugin, host memory) by normalised MSE
// sum((a - b)^2) / sum(b^2), plus a scalar double reference for matmul. Skipped when no Vulkan
// device exists. Environment knobs (staging, range cap, memory limit) are set around create().
//
// Thresholds (NMSE):
//  * 1e-10 for F32 ops that do the same float math as the CPU (elementwise, norms, rope,
//    softmax, attention): only summation order and exp/rsqrt ulps differ (~1e-14 seen).
//  * 0 (bit exact) for get_rows, set_rows and copy: pure conversions with the same rounding.
//  * matmul vs the exact (double, dequantised weights) reference: 1e-9 for every type (float
//    accumulation over K <= 4352 gives ~1e-13).
//  * matmul vs the CPU plugin, which quantises activations to the weight's vec_dot type:
//    F32 1e-10; F16 1e-6 (activations rounded to fp16, ~2^-11 relative); BF16 1e-4 (2^-8);
//    quantised weights 5e-4 (Q8_0 / Q8_K activations, ~4e-3 relative per element).
#include <dlfcn.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "dari/backend/plugin_abi.h"
#include "dari/tensor/dtype.h"

namespace {

using dari::GgmlType;

const DariBackendPluginV2* plugin() {
  static const DariBackendPluginV2* t = [] {
    void* lib = dlopen(DARI_VULKAN_PLUGIN_PATH, RTLD_NOW | RTLD_LOCAL);
    if (lib == nullptr) return static_cast<const DariBackendPluginV2*>(nullptr);
    auto fn = reinterpret_cast<DariPluginEntryV2Fn>(dlsym(lib, DARI_PLUGIN_ENTRY_NAME_V2));
    return fn ? fn() : nullptr;
  }();
  return t;
}

// A tensor in host memory (CPU reference) and in a device buffer (same layout and offset).
struct Tensor {
  std::vector<uint8_t> host;
  void* base = nullptr;  // device buffer
  uint64_t offset = 0;
  DariTensorView hv{}, dv{};
};

std::vector<float> random_floats(size_t n, std::mt19937& rng, float lo = -1.0f, float hi = 1.0f) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

double nmse(const std::vector<float>& got, const std::vector<float>& want) {
  double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    const double d = static_cast<double>(got[i]) - want[i];
    num += d * d;
    den += static_cast<double>(want[i]) * want[i];
  }
  return den == 0 ? num : num / den;
}

class VulkanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    t_ = plugin();
    if (t_ == nullptr)
      GTEST_SKIP() << "cannot load " << DARI_VULKAN_PLUGIN_PATH << ": " << dlerror();
    if (t_->device_count() < 1) GTEST_SKIP() << "no Vulkan device";
    open_ctx();
    cpu_ = dari_cpu_backend_plugin();
    cpu_ctx_ = cpu_->create(2);
    ASSERT_NE(cpu_ctx_, nullptr);
  }
  void TearDown() override {
    close_ctx();
    if (cpu_ctx_ != nullptr) cpu_->destroy(cpu_ctx_);
  }
  void open_ctx(uint32_t flags = 0) {
    DariCreateParams p{sizeof(DariCreateParams), 0, 0, flags};
    char err[256] = {};
    ASSERT_EQ(t_->create(&p, &ctx_, err, sizeof(err)), DARI_OK) << err;
  }
  void close_ctx() {
    for (void* b : bufs_) t_->free_buffer(ctx_, b);
    bufs_.clear();
    if (ctx_ != nullptr) t_->destroy(ctx_);
    ctx_ = nullptr;
  }
  // Reopens the context with an environment variable set (knobs are read at create()).
  void reopen_with(const char* var, const char* value) {
    close_ctx();
    setenv(var, value, 1);
    open_ctx();
    unsetenv(var);
  }

  // A tensor of `type` [ne0, ne1, ne2, ne3]; rows padded by `pad` bytes, data at `offset` bytes
  // into its buffer. Filled with random values in [-1, 1] (quantised for block types).
  Tensor make(GgmlType type, int64_t ne0, int64_t ne1, int64_t ne2 = 1, int64_t ne3 = 1,
              uint64_t pad = 0, uint64_t offset = 0) {
    const dari::TypeTraits* tt = dari::type_traits(type);
    Tensor t;
    DariTensorView v{};
    v.type = static_cast<uint32_t>(type);
    v.ne[0] = ne0;
    v.ne[1] = ne1;
    v.ne[2] = ne2;
    v.ne[3] = ne3;
    const uint64_t rb = static_cast<uint64_t>(ne0) / tt->block_elems * tt->block_bytes;
    v.nb[0] = tt->block_bytes;
    v.nb[1] = rb + pad;
    v.nb[2] = v.nb[1] * static_cast<uint64_t>(ne1);
    v.nb[3] = v.nb[2] * static_cast<uint64_t>(ne2);
    const uint64_t bytes = offset + v.nb[3] * static_cast<uint64_t>(ne3);
    t.host.assign(bytes, 0);
    t.offset = offset;
    const int64_t rows = ne1 * ne2 * ne3;
    for (int64_t r = 0; r < rows; ++r) {
      std::vector<float> f = random_floats(static_cast<size_t>(ne0), rng_);
      uint8_t* row = t.host.data() + offset + static_cast<uint64_t>(r) * v.nb[1];
      if (type == GgmlType::F32) {
        std::memcpy(row, f.data(), rb);
      } else {
        tt->from_float(f.data(), row, ne0);
      }
    }
    EXPECT_EQ(t_->alloc_buffer(ctx_, bytes, &t.base), DARI_OK) << t_->last_error(ctx_);
    bufs_.push_back(t.base);
    EXPECT_EQ(t_->upload(ctx_, t.base, t.host.data(), bytes), DARI_OK) << t_->last_error(ctx_);
    t.hv = v;
    t.hv.data = t.host.data() + offset;
    t.dv = v;
    t.dv.data = static_cast<uint8_t*>(t.base) + offset;
    return t;
  }

  // Downloads the device copy of t into its host vector (after a GPU run).
  std::vector<uint8_t> fetch(const Tensor& t) {
    std::vector<uint8_t> out(t.host.size());
    EXPECT_EQ(t_->download(ctx_, out.data(), t.base, out.size()), DARI_OK) << t_->last_error(ctx_);
    return out;
  }

  // The elements of view v (host layout) read from `bytes` (the whole buffer), as floats.
  static std::vector<float> values(const Tensor& t, const std::vector<uint8_t>& bytes) {
    const DariTensorView& v = t.hv;
    const dari::TypeTraits* tt = dari::type_traits(static_cast<GgmlType>(v.type));
    std::vector<float> out;
    const int64_t rows = v.ne[1] * v.ne[2] * v.ne[3];
    std::vector<float> row(static_cast<size_t>(v.ne[0]));
    for (int64_t r = 0; r < rows; ++r) {
      const uint64_t off = t.offset + static_cast<uint64_t>(r % v.ne[1]) * v.nb[1] +
                           static_cast<uint64_t>((r / v.ne[1]) % v.ne[2]) * v.nb[2] +
                           static_cast<uint64_t>(r / (v.ne[1] * v.ne[2])) * v.nb[3];
      tt->to_float(bytes.data() + off, row.data(), v.ne[0]);
      out.insert(out.end(), row.begin(), row.end());
    }
    return out;
  }

  // Runs op on the CPU (host views) and on the device (device views); returns the NMSE of the
  // device result against the CPU's. `build(dev)` makes the op with host or device views.
  template <class Build>
  double run_both(Build build, Tensor& dst, std::vector<float>* cpu_out = nullptr,
                  std::vector<float>* gpu_out = nullptr) {
    DariOp hop = build(false);
    char err[256] = {};
    EXPECT_EQ(cpu_->run(cpu_ctx_, &hop, err, sizeof(err)), 0) << err;
    DariOp dop = build(true);
    EXPECT_EQ(t_->supports_op(ctx_, &dop), 1);
    EXPECT_EQ(t_->compute(ctx_, &dop, 1), DARI_OK) << t_->last_error(ctx_);
    std::vector<float> want = values(dst, dst.host);
    std::vector<float> got = values(dst, fetch(dst));
    if (cpu_out) *cpu_out = want;
    if (gpu_out) *gpu_out = got;
    return nmse(got, want);
  }

  const DariBackendPluginV2* t_ = nullptr;
  void* ctx_ = nullptr;
  const DariBackendPlugin* cpu_ = nullptr;
  void* cpu_ctx_ = nullptr;
  std::vector<void*> bufs_;
  std::mt19937 rng_{1234};
};

DariOp op_of(uint32_t kind, std::initializer_list<DariTensorView> src, DariTensorView dst) {
  DariOp op{};
  op.kind = kind;
  op.n_src = static_cast<uint32_t>(src.size());
  uint32_t i = 0;
  for (const auto& s : src) op.src[i++] = s;
  op.dst = dst;
  return op;
}

const DariTensorView& pick(const Tensor& t, bool dev) {
  return dev ? t.dv : t.hv;
}

}  // namespace

const GgmlType kAllTypes[] = {GgmlType::F32,  GgmlType::F16,  GgmlType::BF16, GgmlType::Q8_0,
                              GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q5_0, GgmlType::Q5_1,
                              GgmlType::Q4_K, GgmlType::Q5_K, GgmlType::Q6_K};

// device_count() and device_info() from several threads at once; first in the file, so the
// instance is created lazily under that race.
TEST(VulkanPlugin, DevicesFromManyThreads) {
  const DariBackendPluginV2* t = plugin();
  if (t == nullptr) GTEST_SKIP() << "plugin not loadable";
  std::vector<std::thread> threads;
  std::vector<int32_t> counts(8, -1);
  for (size_t i = 0; i < counts.size(); ++i) {
    threads.emplace_back([&, i] {
      counts[i] = t->device_count();
      DariDeviceInfoV2 info{};
      info.struct_size = sizeof(info);
      if (counts[i] > 0) {
        EXPECT_EQ(t->device_info(0, &info), DARI_OK);
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int32_t c : counts) EXPECT_EQ(c, counts[0]);
  EXPECT_EQ(t->abi_version, DARI_PLUGIN_ABI_VERSION_2);
  EXPECT_EQ(t->struct_size, sizeof(DariBackendPluginV2));
  EXPECT_STREQ(t->name, "vulkan");
}

TEST_F(VulkanTest, DeviceInfo) {
  DariDeviceInfoV2 info{};
  info.struct_size = sizeof(info);
  ASSERT_EQ(t_->device_info(0, &info), DARI_OK);
  EXPECT_STREQ(info.name, "Vulkan0");
  EXPECT_EQ(info.kind, static_cast<uint32_t>(DARI_DEVICE_GPU));
  EXPECT_GT(info.memory_total, 0u);
  EXPECT_GT(info.max_buffer, 0u);
  EXPECT_EQ(info.caps & DARI_CAP_HOST_MEMORY, 0u);
  if (std::string(info.description).find("llvmpipe") != std::string::npos) {
    EXPECT_NE(info.caps & DARI_CAP_SOFTWARE, 0u);
  }
  EXPECT_EQ(t_->device_info(t_->device_count(), &info), DARI_ERR_INVALID);
  uint64_t fr = 0, total = 0;
  ASSERT_EQ(t_->memory(ctx_, &fr, &total), DARI_OK);
  EXPECT_GT(total, 0u);
  EXPECT_LE(fr, total);
  std::printf("device: %s, %s, caps 0x%x\n", info.name, info.description, info.caps);
}

TEST_F(VulkanTest, BuffersAndTransfers) {
  void* a = nullptr;
  void* b = nullptr;
  void* z = nullptr;
  ASSERT_EQ(t_->alloc_buffer(ctx_, 1000, &a), DARI_OK);
  ASSERT_EQ(t_->alloc_buffer(ctx_, 1000, &b), DARI_OK);
  ASSERT_EQ(t_->alloc_buffer(ctx_, 0, &z), DARI_OK);
  EXPECT_NE(a, b);
  EXPECT_GE(reinterpret_cast<uintptr_t>(a), uintptr_t{1} << 40);  // not a host pointer
  std::vector<uint8_t> src(1000), back(1000);
  for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<uint8_t>(i * 7 + 3);
  ASSERT_EQ(t_->upload(ctx_, a, src.data(), 1000), DARI_OK);
  ASSERT_EQ(t_->copy(ctx_, static_cast<uint8_t*>(b) + 1, static_cast<uint8_t*>(a) + 3, 900),
            DARI_OK);
  ASSERT_EQ(t_->download(ctx_, back.data(), static_cast<uint8_t*>(b) + 1, 900), DARI_OK);
  EXPECT_EQ(0, std::memcmp(back.data(), src.data() + 3, 900));
  // Overlapping copy inside one buffer behaves like memmove.
  ASSERT_EQ(t_->copy(ctx_, static_cast<uint8_t*>(a) + 10, a, 500), DARI_OK);
  ASSERT_EQ(t_->download(ctx_, back.data(), a, 1000), DARI_OK);
  std::vector<uint8_t> want = src;
  std::memmove(want.data() + 10, want.data(), 500);
  EXPECT_EQ(want, back);
  // Addresses outside any buffer are rejected with a message naming the device.
  EXPECT_EQ(t_->upload(ctx_, static_cast<uint8_t*>(a) + 999, src.data(), 2), DARI_ERR_INVALID);
  // A misaligned F32 operand is refused, not misread.
  Tensor w = make(GgmlType::F32, 64, 3, 1, 1, 0, 4);
  DariOp mm = op_of(DARI_OP_MATMUL, {w.dv, w.dv}, w.dv);
  mm.dst.ne[0] = 3;
  mm.src[0].data = static_cast<uint8_t*>(w.dv.data) + 2;
  EXPECT_EQ(t_->compute(ctx_, &mm, 1), DARI_ERR_INVALID);
  EXPECT_NE(std::string(t_->last_error(ctx_)).find("Vulkan0"), std::string::npos);
  EXPECT_EQ(t_->download(ctx_, back.data(), reinterpret_cast<void*>(0x1000), 4), DARI_ERR_INVALID);
  Tensor x = make(GgmlType::F32, 8, 2);
  DariOp op = op_of(DARI_OP_ADD, {x.dv, x.dv}, x.dv);
  op.dst.data = reinterpret_cast<void*>(uintptr_t{1} << 50);
  EXPECT_EQ(t_->compute(ctx_, &op, 1), DARI_ERR_INVALID);
  EXPECT_NE(std::string(t_->last_error(ctx_)).find("add"), std::string::npos);
  t_->free_buffer(ctx_, a);
  t_->free_buffer(ctx_, b);
  t_->free_buffer(ctx_, z);
}

TEST_F(VulkanTest, OutOfMemory) {
  reopen_with("DARI_VULKAN_MEMORY_LIMIT", "1048576");
  void* a = nullptr;
  void* b = nullptr;
  ASSERT_EQ(t_->alloc_buffer(ctx_, 600000, &a), DARI_OK);
  EXPECT_EQ(t_->alloc_buffer(ctx_, 600000, &b), DARI_ERR_OUT_OF_MEMORY);
  const std::string msg = t_->last_error(ctx_);
  EXPECT_NE(msg.find("Vulkan0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("600000"), std::string::npos) << msg;
  uint64_t fr = 0, total = 0;
  ASSERT_EQ(t_->memory(ctx_, &fr, &total), DARI_OK);
  EXPECT_EQ(total, 1048576u);
  EXPECT_LT(fr, 1048576u - 590000u);
  t_->free_buffer(ctx_, a);
  EXPECT_EQ(t_->alloc_buffer(ctx_, 600000, &b), DARI_OK);
  t_->free_buffer(ctx_, b);
}

TEST_F(VulkanTest, Elementwise) {
  for (uint32_t kind : {DARI_OP_ADD, DARI_OP_MUL, DARI_OP_SILU_MUL}) {
    for (auto [ne0, rows, bc] :
         {std::tuple{4096, 1, false}, {100, 7, false}, {4097, 33, true}, {64, 5, true}}) {
      Tensor a = make(GgmlType::F32, ne0, rows, 1, 1, 12, 4);
      Tensor b = make(GgmlType::F32, ne0, bc ? 1 : rows);
      Tensor y = make(GgmlType::F32, ne0, rows);
      const double e = run_both(
          [&](bool d) {
            return op_of(kind, {pick(a, d), pick(b, d)}, pick(y, d));
          },
          y);
      EXPECT_LE(e, 1e-10) << "kind " << kind << " ne0 " << ne0 << " rows " << rows;
    }
  }
}

TEST_F(VulkanTest, RmsNormAndSoftmax) {
  for (auto [ne0, ne1, ne2] : {std::tuple{4096, 1, 1}, {128, 8, 7}, {100, 3, 33}}) {
    Tensor x = make(GgmlType::F32, ne0, ne1, ne2, 1, 0, 8);
    Tensor w = make(GgmlType::F32, ne0, 1);
    Tensor y = make(GgmlType::F32, ne0, ne1, ne2, 1, 16);
    for (bool weight : {false, true}) {
      const double e = run_both(
          [&](bool d) {
            DariOp op = weight ? op_of(DARI_OP_RMS_NORM, {pick(x, d), pick(w, d)}, pick(y, d))
                               : op_of(DARI_OP_RMS_NORM, {pick(x, d)}, pick(y, d));
            op.params.eps = 1e-6f;
            return op;
          },
          y);
      EXPECT_LE(e, 1e-10) << "rms_norm " << ne0 << " weight " << weight;
    }
    const double e = run_both(
        [&](bool d) {
          DariOp op = op_of(DARI_OP_SOFTMAX, {pick(x, d)}, pick(y, d));
          op.params.scale = 3.5f;
          return op;
        },
        y);
    EXPECT_LE(e, 1e-10) << "softmax " << ne0;
  }
}

TEST_F(VulkanTest, Rope) {
  const int64_t hd = 128, heads = 4, tokens = 7;
  std::vector<int32_t> pos = {0, 1, 2, 17, 300, 4095, 5000};
  std::vector<float> factors(hd / 2);
  for (size_t i = 0; i < factors.size(); ++i) factors[i] = 1.0f + 0.1f * static_cast<float>(i);
  for (int mode : {DARI_ROPE_NORMAL, DARI_ROPE_NEOX}) {
    for (int n_dims : {128, 64}) {
      for (bool ff : {false, true}) {
        Tensor x = make(GgmlType::F32, hd, heads, tokens);
        Tensor y = make(GgmlType::F32, hd, heads, tokens);
        const double e = run_both(
            [&](bool d) {
              DariOp op = op_of(DARI_OP_ROPE, {pick(x, d)}, pick(y, d));
              op.params.rope = {
                  n_dims,    mode, 10000.0f, ff ? 0.5f : 1.0f, ff ? factors.data() : nullptr,
                  pos.data()};
              return op;
            },
            y);
        EXPECT_LE(e, 1e-10) << "mode " << mode << " n_dims " << n_dims << " ff " << ff;
      }
    }
  }
}

TEST_F(VulkanTest, GetRows) {
  for (GgmlType type : kAllTypes) {
    const int64_t ne0 = dari::type_traits(type)->block_elems == 256 ? 512 : 96;
    Tensor t = make(type, ne0, 50, 1, 1, 0, type == GgmlType::F32 ? 4 : 2);
    Tensor y = make(GgmlType::F32, ne0, 9);
    std::vector<int32_t> ids = {3, 0, 49, 3, 17, 8, 8, 1, 42};
    const double e = run_both(
        [&](bool d) {
          DariOp op = op_of(DARI_OP_GET_ROWS, {pick(t, d)}, pick(y, d));
          op.params.row_ids = ids.data();
          op.params.n_row_ids = static_cast<int64_t>(ids.size());
          return op;
        },
        y);
    EXPECT_EQ(e, 0.0) << "type " << static_cast<int>(type);
  }
}

TEST_F(VulkanTest, SetRowsAndCopy) {
  const GgmlType kinds[] = {GgmlType::F32, GgmlType::F16, GgmlType::BF16};
  for (auto [to, ne0] : {std::pair{GgmlType::F32, 256},
                         {GgmlType::F16, 256},
                         {GgmlType::BF16, 256},
                         {GgmlType::F16, 257},
                         {GgmlType::BF16, 33}}) {
    // Odd row lengths put 16-bit rows at 2-byte offsets (rows share words).
    Tensor x = make(GgmlType::F32, ne0, 6);
    Tensor cache = make(to, ne0, 40);
    std::vector<int32_t> ids = {5, 39, 0, 5, 12, 13};  // duplicate: the last write wins
    run_both(
        [&](bool d) {
          DariOp op = op_of(DARI_OP_SET_ROWS, {pick(x, d)}, pick(cache, d));
          op.params.row_ids = ids.data();
          op.params.n_row_ids = static_cast<int64_t>(ids.size());
          return op;
        },
        cache);
    EXPECT_EQ(fetch(cache), cache.host) << "set_rows to type " << static_cast<int>(to);
    for (GgmlType from : kinds) {
      Tensor a = make(from, (ne0 % 2 ? 131 : 130), 3, 2, 1, 4);
      Tensor b = make(to, (ne0 % 2 ? 131 : 130), 3, 2, 1, ne0 % 2 ? 2 : 8);
      run_both([&](bool d) { return op_of(DARI_OP_COPY, {pick(a, d)}, pick(b, d)); }, b);
      EXPECT_EQ(fetch(b), b.host) << "copy " << static_cast<int>(from) << " -> "
                                  << static_cast<int>(to) << " ne0 " << (ne0 % 2 ? 131 : 130);
    }
  }
  // Dequantising copies (quantised -> F32).
  for (GgmlType from : kAllTypes) {
    const int64_t ne0 = dari::type_traits(from)->block_elems == 256 ? 512 : 64;
    const uint64_t pad = from == GgmlType::F32 ? 4 : 2;
    Tensor a = make(from, ne0, 5, 1, 1, pad, pad);
    Tensor b = make(GgmlType::F32, ne0, 5);
    EXPECT_EQ(run_both([&](bool d) { return op_of(DARI_OP_COPY, {pick(a, d)}, pick(b, d)); }, b),
              0.0)
        << "copy from type " << static_cast<int>(from);
  }
}

namespace {

double cpu_threshold(GgmlType type) {
  switch (type) {
    case GgmlType::F32:
      return 1e-10;
    case GgmlType::F16:
      return 1e-6;
    case GgmlType::BF16:
      return 1e-4;
    default:
      return 5e-4;
  }
}

}  // namespace

// Matmul of w (any type) and x through both backends; checks the device result against the CPU
// plugin (threshold by type) and against a double-precision product of the dequantised weights.
class VulkanMatmulTest : public VulkanTest {
 public:
  void check(Tensor& w, Tensor& x, Tensor& y, const std::string& what) {
    std::vector<float> cpu, gpu;
    const double e = run_both(
        [&](bool d) {
          return op_of(DARI_OP_MATMUL, {pick(w, d), pick(x, d)}, pick(y, d));
        },
        y, &cpu, &gpu);
    const auto type = static_cast<GgmlType>(w.hv.type);
    EXPECT_LE(e, cpu_threshold(type)) << what << " vs CPU";
    // Exact reference.
    const int64_t K = w.hv.ne[0], N = w.hv.ne[1], M = x.hv.ne[1];
    std::vector<float> wf(static_cast<size_t>(K)), ref;
    std::vector<double> acc(static_cast<size_t>(M * N));
    for (int64_t n = 0; n < N; ++n) {
      dari::type_traits(type)->to_float(
          static_cast<const uint8_t*>(w.hv.data) + static_cast<uint64_t>(n) * w.hv.nb[1], wf.data(),
          K);
      for (int64_t m = 0; m < M; ++m) {
        const float* xr = reinterpret_cast<const float*>(static_cast<const uint8_t*>(x.hv.data) +
                                                         static_cast<uint64_t>(m) * x.hv.nb[1]);
        double s = 0;
        for (int64_t k = 0; k < K; ++k) s += static_cast<double>(wf[k]) * xr[k];
        acc[static_cast<size_t>(m * N + n)] = s;
      }
    }
    ref.assign(acc.begin(), acc.end());
    EXPECT_LE(nmse(gpu, ref), 1e-9) << what << " vs exact";
  }
};

TEST_F(VulkanMatmulTest, AllTypesAndShapes) {
  for (GgmlType type : kAllTypes) {
    const uint32_t be = dari::type_traits(type)->block_elems;
    const std::vector<int64_t> ks = be == 256  ? std::vector<int64_t>{256, 4352}
                                    : be == 32 ? std::vector<int64_t>{96, 4128}
                                               : std::vector<int64_t>{100, 4100};
    for (int64_t K : ks) {
      for (int64_t M : {1, 4, 7, 33}) {
        const int64_t N = 67;
        Tensor w = make(type, K, N, 1, 1, 0, type == GgmlType::F32 ? 4 : 2);
        Tensor x = make(GgmlType::F32, K, M, 1, 1, 16);
        Tensor y = make(GgmlType::F32, N, M, 1, 1, 8, 4);
        check(w, x, y,
              "type " + std::to_string(static_cast<int>(type)) + " K " + std::to_string(K) + " M " +
                  std::to_string(M));
      }
    }
  }
}

// The shared-memory reduction variant (selected when the device lacks subgroup arithmetic).
TEST_F(VulkanMatmulTest, WithoutSubgroups) {
  reopen_with("DARI_VULKAN_NO_SUBGROUPS", "1");
  for (GgmlType type : {GgmlType::F16, GgmlType::Q4_0, GgmlType::Q5_K}) {
    for (int64_t M : {1, 4}) {
      Tensor w = make(type, 512, 70, 1, 1, 0, 2);
      Tensor x = make(GgmlType::F32, 512, M);
      Tensor y = make(GgmlType::F32, 70, M);
      check(w, x, y, "no subgroups type " + std::to_string(static_cast<int>(type)));
    }
  }
}

// Other weight-row counts per matrix-vector workgroup (GPUs use 4, software devices 8).
TEST_F(VulkanMatmulTest, VecRowsPerWorkgroup) {
  for (const char* rows : {"3", "4"}) {
    reopen_with("DARI_VULKAN_VEC_ROWS", rows);
    for (GgmlType type : {GgmlType::F32, GgmlType::Q6_K}) {
      Tensor w = make(type, 512, 70, 1, 1, 0, type == GgmlType::F32 ? 4 : 2);
      Tensor x = make(GgmlType::F32, 512, 2);
      Tensor y = make(GgmlType::F32, 70, 2);
      check(w, x, y,
            std::string("vec rows ") + rows + " type " + std::to_string(static_cast<int>(type)));
    }
  }
}

TEST_F(VulkanMatmulTest, StagingPath) {
  reopen_with("DARI_VULKAN_FORCE_STAGING", "1");
  std::vector<uint8_t> big(40u << 20);  // larger than one staging chunk
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<uint8_t>(i >> 12);
  void* b = nullptr;
  ASSERT_EQ(t_->alloc_buffer(ctx_, big.size(), &b), DARI_OK);
  bufs_.push_back(b);
  ASSERT_EQ(t_->upload(ctx_, b, big.data(), big.size()), DARI_OK);
  std::vector<uint8_t> back(big.size());
  ASSERT_EQ(t_->download(ctx_, back.data(), b, back.size()), DARI_OK);
  EXPECT_TRUE(back == big);
  Tensor w = make(GgmlType::Q8_0, 512, 80, 1, 1, 0, 2);
  Tensor x = make(GgmlType::F32, 512, 5);
  Tensor y = make(GgmlType::F32, 80, 5);
  check(w, x, y, "staging q8_0");
}

TEST_F(VulkanMatmulTest, RangeSplitting) {
  reopen_with("DARI_VULKAN_MAX_RANGE", "4096");
  for (GgmlType type : {GgmlType::F32, GgmlType::Q4_0, GgmlType::Q6_K}) {
    for (int64_t M : {1, 9}) {
      Tensor w = make(type, 512, 100, 1, 1, 0, type == GgmlType::F32 ? 4 : 6);
      Tensor x = make(GgmlType::F32, 512, M, 1, 1, 0, 4);
      Tensor y = make(GgmlType::F32, 100, M, 1, 1, 0, 12);
      check(w, x, y,
            "split type " + std::to_string(static_cast<int>(type)) + " M " + std::to_string(M));
    }
  }
  {  // Output rows longer than the range (1500 columns = 6000 bytes): split over N.
    Tensor w = make(GgmlType::F16, 64, 1500, 1, 1, 0, 2);
    Tensor x = make(GgmlType::F32, 64, 3);
    Tensor y = make(GgmlType::F32, 1500, 3);
    check(w, x, y, "split wide output");
  }
  Tensor t = make(GgmlType::F32, 256, 60, 1, 1, 0, 4);
  Tensor g = make(GgmlType::F32, 256, 6);
  std::vector<int32_t> ids = {59, 0, 30, 31, 2, 58};
  EXPECT_EQ(run_both(
                [&](bool d) {
                  DariOp op = op_of(DARI_OP_GET_ROWS, {pick(t, d)}, pick(g, d));
                  op.params.row_ids = ids.data();
                  op.params.n_row_ids = 6;
                  return op;
                },
                g),
            0.0);
  Tensor a = make(GgmlType::F32, 256, 40, 1, 1, 0, 8);
  Tensor b = make(GgmlType::F32, 256, 40, 1, 1, 0, 4);
  Tensor y = make(GgmlType::F32, 256, 40);
  EXPECT_LE(run_both(
                [&](bool d) {
                  return op_of(DARI_OP_ADD, {pick(a, d), pick(b, d)}, pick(y, d));
                },
                y),
            1e-10);
  Tensor cache = make(GgmlType::F16, 256, 60, 1, 1, 0, 4);
  Tensor src = make(GgmlType::F32, 256, 6);
  run_both(
      [&](bool d) {
        DariOp op = op_of(DARI_OP_SET_ROWS, {pick(src, d)}, pick(cache, d));
        op.params.row_ids = ids.data();
        op.params.n_row_ids = 6;
        return op;
      },
      cache);
  EXPECT_EQ(fetch(cache), cache.host);
  // Attention needs its whole cache in one binding: declined, so the caller can place it.
  DariOp att = op_of(DARI_OP_ATTENTION, {a.dv, cache.dv, cache.dv}, a.dv);
  att.params.attn.n_head = 2;
  att.params.attn.n_head_kv = 2;
  att.params.attn.block_tokens = 4;
  att.src[0].ne[0] = 128;
  att.src[0].ne[1] = 2;
  att.dst = att.src[0];
  EXPECT_EQ(t_->supports_op(ctx_, &att), 0);
}

TEST_F(VulkanTest, Attention) {
  const int32_t n_head = 8, n_kv = 2, bt = 16, n_blocks = 32;
  std::vector<int32_t> perm(n_blocks);
  for (int32_t i = 0; i < n_blocks; ++i) perm[static_cast<size_t>(i)] = i;
  std::shuffle(perm.begin(), perm.end(), rng_);
  std::vector<int32_t> t0(perm.begin(), perm.begin() + 20),
      t1(perm.begin() + 20, perm.begin() + 25);
  const int32_t* tables[] = {t0.data(), t1.data()};
  const int32_t counts[] = {20, 5};
  std::vector<int32_t> seq = {0, 0, 0, 1, 1, 0, 1};
  std::vector<int32_t> pos = {0, 150, 299, 0, 63, 64, 79};
  for (GgmlType kv : {GgmlType::F32, GgmlType::F16, GgmlType::BF16}) {
    for (int64_t hd : {64, 128}) {
      const int64_t M = static_cast<int64_t>(pos.size());
      Tensor q = make(GgmlType::F32, hd, n_head, M);
      Tensor k = make(kv, hd * n_kv, n_blocks * bt);
      Tensor v = make(kv, hd * n_kv, n_blocks * bt);
      Tensor y = make(GgmlType::F32, hd, n_head, M);
      const double e = run_both(
          [&](bool d) {
            DariOp op = op_of(DARI_OP_ATTENTION, {pick(q, d), pick(k, d), pick(v, d)}, pick(y, d));
            op.params.attn = {
                n_head,     n_kv,       bt,     2,     1.0f / std::sqrt(static_cast<float>(hd)),
                pos.data(), seq.data(), tables, counts};
            return op;
          },
          y);
      EXPECT_LE(e, 1e-10) << "kv type " << static_cast<int>(kv) << " hd " << hd;
    }
  }
}

// get_rows -> rms_norm -> matmul -> silu_mul -> add -> copy in one compute() call.
TEST_F(VulkanTest, GraphOfDependentOps) {
  const int64_t d = 256, M = 5, N = 192;
  Tensor emb = make(GgmlType::F16, d, 40);
  Tensor h = make(GgmlType::F32, d, M);
  Tensor nw = make(GgmlType::F32, d, 1);
  Tensor hn = make(GgmlType::F32, d, M);
  Tensor w = make(GgmlType::Q4_K, d, N);
  Tensor u = make(GgmlType::F32, N, M);
  Tensor s = make(GgmlType::F32, N, M);
  Tensor bias = make(GgmlType::F32, N, 1);
  Tensor o = make(GgmlType::F16, N, M);
  std::vector<int32_t> ids = {1, 7, 39, 7, 0};
  auto ops = [&](bool dev) {
    std::vector<DariOp> v;
    v.push_back(op_of(DARI_OP_GET_ROWS, {pick(emb, dev)}, pick(h, dev)));
    v.back().params.row_ids = ids.data();
    v.back().params.n_row_ids = M;
    v.push_back(op_of(DARI_OP_RMS_NORM, {pick(h, dev), pick(nw, dev)}, pick(hn, dev)));
    v.back().params.eps = 1e-5f;
    v.push_back(op_of(DARI_OP_MATMUL, {pick(w, dev), pick(hn, dev)}, pick(u, dev)));
    v.push_back(op_of(DARI_OP_SILU_MUL, {pick(u, dev), pick(u, dev)}, pick(s, dev)));
    v.push_back(op_of(DARI_OP_ADD, {pick(s, dev), pick(bias, dev)}, pick(s, dev)));
    v.push_back(op_of(DARI_OP_COPY, {pick(s, dev)}, pick(o, dev)));
    return v;
  };
  char err[256] = {};
  for (const DariOp& op : ops(false))
    ASSERT_EQ(cpu_->run(cpu_ctx_, &op, err, sizeof(err)), 0) << err;
  std::vector<DariOp> dops = ops(true);
  ASSERT_EQ(t_->compute(ctx_, dops.data(), static_cast<uint32_t>(dops.size())), DARI_OK)
      << t_->last_error(ctx_);
  EXPECT_LE(nmse(values(o, fetch(o)), values(o, o.host)), cpu_threshold(GgmlType::Q4_K));
}

TEST_F(VulkanTest, SupportsOp) {
  Tensor w = make(GgmlType::F32, 256, 4);
  Tensor x = make(GgmlType::F32, 256, 2);
  Tensor y = make(GgmlType::F32, 4, 2);
  DariOp op = op_of(DARI_OP_MATMUL, {w.dv, x.dv}, y.dv);
  EXPECT_EQ(t_->supports_op(ctx_, &op), 1);
  op.src[0].type = static_cast<uint32_t>(GgmlType::Q2_K);
  op.src[0].nb[1] = 84;
  EXPECT_EQ(t_->supports_op(ctx_, &op), 0);
  op.src[0] = w.dv;
  op.src[0].data = nullptr;  // shapes only
  op.src[1].data = nullptr;
  EXPECT_EQ(t_->supports_op(ctx_, &op), 1);
  DariOp cp = op_of(DARI_OP_COPY, {x.dv}, x.dv);
  cp.dst.type = static_cast<uint32_t>(GgmlType::Q8_0);
  EXPECT_EQ(t_->supports_op(ctx_, &cp), 0);
}

// Rough speed report (no assertion): the first call includes pipeline creation.
TEST_F(VulkanTest, MatmulThroughput) {
  for (auto [type, K, N, M] : {std::tuple{GgmlType::Q4_0, 4096, 4096, 1},
                               {GgmlType::F16, 4096, 1024, 1},
                               {GgmlType::F32, 4096, 1024, 1},
                               {GgmlType::Q4_0, 2048, 1024, 64},
                               {GgmlType::F32, 1024, 1024, 64}}) {
    Tensor w = make(type, K, N);
    Tensor x = make(GgmlType::F32, K, M);
    Tensor y = make(GgmlType::F32, N, M);
    DariOp op = op_of(DARI_OP_MATMUL, {w.dv, x.dv}, y.dv);
    for (int rep = 0; rep < 2; ++rep) {
      const auto t0 = std::chrono::steady_clock::now();
      ASSERT_EQ(t_->compute(ctx_, &op, 1), DARI_OK) << t_->last_error(ctx_);
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      std::printf("matmul type %d K %d N %d M %d: %.1f ms, %.2f GFLOP/s%s\n",
                  static_cast<int>(type), K, N, M, s * 1e3, 2.0 * K * N * M / s * 1e-9,
                  rep == 0 ? " (first call)" : "");
    }
  }
}

TEST_F(VulkanTest, OpProfile) {
  close_ctx();
  open_ctx(DARI_CREATE_PROFILE);
  Tensor w = make(GgmlType::Q4_0, 256, 64);
  Tensor x = make(GgmlType::F32, 256, 1);
  Tensor y = make(GgmlType::F32, 64, 1);
  DariOp ops[2] = {op_of(DARI_OP_MATMUL, {w.dv, x.dv}, y.dv),
                   op_of(DARI_OP_ADD, {y.dv, y.dv}, y.dv)};
  ASSERT_EQ(t_->compute(ctx_, ops, 2), DARI_OK) << t_->last_error(ctx_);
  ASSERT_EQ(t_->compute(ctx_, ops, 2), DARI_OK) << t_->last_error(ctx_);
  DariOpProfileEntry e[8];
  const uint32_t n = t_->op_profile(ctx_, e, 8);
  ASSERT_EQ(n, 2u);
  for (uint32_t i = 0; i < n; ++i) {
    EXPECT_EQ(e[i].calls, 2u) << e[i].op;
    EXPECT_GE(e[i].seconds, 0.0);
  }
  EXPECT_TRUE(std::string(e[0].op) == "matmul Q4_0 m=1" ||
              std::string(e[1].op) == "matmul Q4_0 m=1");
  t_->reset_op_profile(ctx_);
  EXPECT_EQ(t_->op_profile(ctx_, e, 8), 0u);
}

// A long context (1500 positions: 24 chunks of the online softmax) and one query row per
// sequence, as in decoding.
TEST_F(VulkanTest, AttentionLongContext) {
  const int32_t n_head = 4, n_kv = 1, bt = 64, n_blocks = 48, hd = 96;
  std::vector<int32_t> perm(n_blocks);
  for (int32_t i = 0; i < n_blocks; ++i) perm[static_cast<size_t>(i)] = n_blocks - 1 - i;
  std::vector<int32_t> t0(perm.begin(), perm.begin() + 24), t1(perm.begin() + 24, perm.end());
  const int32_t* tables[] = {t0.data(), t1.data()};
  const int32_t counts[] = {24, 24};
  std::vector<int32_t> seq = {0, 1};
  std::vector<int32_t> pos = {1499, 700};
  Tensor q = make(GgmlType::F32, hd, n_head, 2);
  Tensor k = make(GgmlType::F16, hd * n_kv, n_blocks * bt);
  Tensor v = make(GgmlType::F16, hd * n_kv, n_blocks * bt);
  Tensor y = make(GgmlType::F32, hd, n_head, 2);
  const double e = run_both(
      [&](bool d) {
        DariOp op = op_of(DARI_OP_ATTENTION, {pick(q, d), pick(k, d), pick(v, d)}, pick(y, d));
        op.params.attn = {n_head, n_kv, bt, 2, 0.3f, pos.data(), seq.data(), tables, counts};
        return op;
      },
      y);
  EXPECT_LE(e, 1e-10);
}
