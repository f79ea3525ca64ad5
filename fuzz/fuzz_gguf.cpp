// libFuzzer harness: parse arbitrary bytes as GGUF; on success touch every accessor, every
// tensor byte range and the inspect summary (text and JSON).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "dari/io/gguf.h"
#include "dari/io/gguf_summary.h"

namespace {

volatile uint64_t g_sink = 0;

void exercise(const dari::GgufFile& f) {
  for (const auto& [key, value] : f.metadata()) {
    (void)f.get_u64(key);
    (void)f.get_u32(key);
    (void)f.get_i64(key);
    (void)f.get_f64(key);
    (void)f.get_f32(key);
    (void)f.get_bool(key);
    (void)f.get_string(key);
    (void)f.get_string_array(key);
    (void)f.get_f32_array(key);
    (void)f.get_i32_array(key);
    (void)f.get_u64_array(key);
    (void)f.get_u32_or(key, 1);
    (void)f.get_string_or(key, "x");
    uint64_t u = 0;
    int64_t i = 0;
    double d = 0;
    g_sink = g_sink + value.is_integer() + value.is_float() + value.to_u64(&u) + value.to_i64(&i) +
             value.to_f64(&d) + (value.as_array() != nullptr) + (f.find(key) == &value);
  }
  (void)f.get_u32("missing.key");
  for (const auto& t : f.tensors()) {
    if (f.find_tensor(t.name) != &t) __builtin_trap();  // names are unique
    if (t.n_bytes > 0) g_sink = g_sink + t.data[0] + t.data[t.n_bytes - 1];  // in bounds
  }
  dari::GgufSummary s = dari::summarize_gguf(f);
  g_sink = g_sink + dari::gguf_summary_to_text(s).size() + dari::gguf_summary_to_json(s).size();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Copy so the parser sees a buffer that ends exactly at `size` (ASan catches over-reads).
  std::vector<uint8_t> buf(data, data + size);
  auto r = dari::GgufFile::parse(buf.data(), buf.size(), "fuzz.gguf");
  if (r.ok()) exercise(*r);
  return 0;
}
