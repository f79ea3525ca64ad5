// Weight type mixes (llama.cpp's rules) and GGUF -> GGUF re-quantization.
#include "dari/convert/quantize.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>

#include "convert/quantize_stream.h"
#include "dari/core/checked.h"
#include "dari/core/strings.h"
#include "dari/io/gguf.h"
#include "dari/tensor/dtype.h"

namespace dari {
namespace {

struct MixEntry {
  const char* name;
  GgmlType base;
  bool k_mix;
  uint32_t file_type;  // LLAMA_FTYPE_*
};

constexpr MixEntry kMixes[] = {
    {"F32", GgmlType::F32, false, 0},     {"F16", GgmlType::F16, false, 1},
    {"BF16", GgmlType::BF16, false, 32},  {"Q8_0", GgmlType::Q8_0, false, 7},
    {"Q4_0", GgmlType::Q4_0, false, 2},   {"Q4_K_M", GgmlType::Q4_K, true, 15},
    {"Q5_K_M", GgmlType::Q5_K, true, 17}, {"Q6_K", GgmlType::Q6_K, false, 18},
};

bool is_float_type(GgmlType t) {
  return t == GgmlType::F32 || t == GgmlType::F16 || t == GgmlType::BF16;
}

bool fits(GgmlType t, uint64_t ne0) {
  return ne0 % ggml_type_info(t).block_elems == 0;
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// Layer index from "blk.N.", or -1.
int64_t layer_of(std::string_view name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int64_t v = 0;
  size_t i = 4;
  for (; i < name.size() && std::isdigit(static_cast<unsigned char>(name[i])) != 0; ++i) {
    v = v * 10 + (name[i] - '0');
    if (v > (int64_t{1} << 30)) return -1;
  }
  return i > 4 && i < name.size() && name[i] == '.' ? v : -1;
}

bool use_more_bits(int64_t i, int64_t n) {
  return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2;
}

GgmlType fallback(GgmlType t, uint64_t ne0) {
  if (fits(t, ne0)) return t;
  GgmlType f = GgmlType::F16;
  switch (t) {
    case GgmlType::Q4_K:
      f = GgmlType::Q5_0;
      break;
    case GgmlType::Q5_K:
      f = GgmlType::Q5_1;
      break;
    case GgmlType::Q6_K:
      f = GgmlType::Q8_0;
      break;
    default:
      break;
  }
  return fits(f, ne0) ? f : GgmlType::F16;
}

}  // namespace

Result<QuantMix> parse_quant_mix(std::string_view name) {
  std::string up(name);
  for (char& c : up) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  for (const MixEntry& e : kMixes) {
    if (up == e.name) return QuantMix{e.name, e.base, e.k_mix, e.file_type};
  }
  std::string list;
  for (const MixEntry& e : kMixes) list += (list.empty() ? "" : ", ") + std::string(e.name);
  return make_error(str_format("unknown weight type '%s' (expected one of: %s)",
                               printable(name).c_str(), list.c_str()));
}

std::vector<std::string> quant_mix_names() {
  std::vector<std::string> v;
  for (const MixEntry& e : kMixes) v.emplace_back(e.name);
  return v;
}

GgmlType choose_tensor_type(const QuantMix& mix, std::string_view name,
                            const std::vector<uint64_t>& ne, uint32_t n_layer, bool has_output) {
  if (ne.size() < 2 || !ends_with(name, ".weight")) return GgmlType::F32;
  const uint64_t ne0 = ne[0];
  if (is_float_type(mix.base)) return mix.base;
  GgmlType t = mix.base;
  const bool output_like = name == "output.weight" || (!has_output && name == "token_embd.weight");
  if (output_like) {
    if (!fits(mix.base, ne0)) return fits(GgmlType::Q8_0, ne0) ? GgmlType::Q8_0 : GgmlType::F16;
    t = mix.base == GgmlType::Q8_0 ? GgmlType::Q8_0 : GgmlType::Q6_K;
  } else if (mix.k_mix) {
    const int64_t il = layer_of(name);
    const bool more = il >= 0 && use_more_bits(il, static_cast<int64_t>(n_layer));
    if (more && (name.find("attn_v.weight") != std::string_view::npos ||
                 name.find("ffn_down") != std::string_view::npos)) {
      t = GgmlType::Q6_K;
    }
  }
  return fallback(t, ne0);
}

Result<QuantizeSummary> quantize_gguf(const std::string& in_path, const std::string& out_path,
                                      const QuantMix& mix, const QuantizeOptions& opts) {
  DARI_ASSIGN_OR_RETURN(GgufFile in, GgufFile::open(in_path));
  const std::vector<GgufTensorInfo>& tensors = in.tensors();
  if (tensors.empty()) return make_error(in_path + ": the file has no tensors");
  uint64_t total_in = 0;
  bool has_output = false;
  for (const GgufTensorInfo& t : tensors) {
    if (!is_float_type(t.type)) {
      return make_error(
          str_format("%s: tensor '%s' is %s; dari quantize needs F32, F16 or BF16 "
                     "input (re-quantizing quantized weights loses precision)",
                     in_path.c_str(), t.name.c_str(), std::string(ggml_type_name(t.type)).c_str()));
    }
    total_in += t.n_bytes;  // each fits in the file, so the sum cannot overflow
    if (t.name == "output.weight") has_output = true;
  }
  DARI_ASSIGN_OR_RETURN(std::string arch, in.get_string_or("general.architecture", ""));
  DARI_ASSIGN_OR_RETURN(uint32_t n_layer, in.get_u32_or(arch + ".block_count", 0));
  if (n_layer == 0) {  // no metadata: count the blk.N. prefixes
    for (const GgufTensorInfo& t : tensors) {
      n_layer = std::max<uint32_t>(n_layer, static_cast<uint32_t>(layer_of(t.name) + 1));
    }
  }

  GgufWriter w;
  for (const auto& [key, value] : in.metadata()) w.set(key, value);
  if (in.has("general.alignment")) w.set_alignment(static_cast<uint32_t>(in.alignment()));
  w.set_u32("general.file_type", mix.file_type);
  w.set_u32("general.quantization_version", 2);
  std::vector<GgmlType> types;
  for (const GgufTensorInfo& t : tensors) {
    std::vector<uint64_t> ne(t.ne, t.ne + t.n_dims);
    types.push_back(choose_tensor_type(mix, t.name, ne, n_layer, has_output));
    DARI_TRY(w.add_tensor_info(t.name, types.back(), ne));
  }
  DARI_ASSIGN_OR_RETURN(std::vector<uint8_t> header, w.header_bytes());
  DARI_ASSIGN_OR_RETURN(uint64_t expect_size, w.file_size());

  convert_detail::StreamOut out(out_path);
  DARI_TRY(out.open());
  DARI_TRY(out.write(header.data(), header.size()));
  ThreadPool pool(opts.n_threads);
  QuantizeSummary sum;
  uint64_t done = 0;
  std::vector<uint8_t> bytes;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const GgufTensorInfo& t = tensors[i];
    const uint64_t cols = t.ne[0], rows = t.n_elements / t.ne[0];
    const uint8_t* src = t.data;
    const uint64_t src_rb = t.n_bytes / rows;
    const GgmlType from = t.type;
    if (types[i] == from) {
      bytes.assign(src, src + t.n_bytes);
    } else {
      Status st = convert_detail::encode_rows(
          pool, types[i], rows, cols,
          [&](uint64_t r0, uint64_t r1, float* dst) {
            for (uint64_t r = r0; r < r1; ++r) {
              // Same element count and a float type: cannot fail.
              (void)dequantize_row(from, src + r * src_rb, dst + (r - r0) * cols,
                                   static_cast<int64_t>(cols));
            }
          },
          &bytes);
      if (!st.ok()) return make_error(in_path + ": tensor '" + t.name + "': " + st.message());
      ++sum.n_quantized;
    }
    DARI_TRY(out.write(bytes.data(), bytes.size()));
    DARI_TRY(out.pad_to(in.has("general.alignment") ? in.alignment() : 32));
    done += t.n_bytes;
    if (opts.on_tensor) {
      opts.on_tensor(
          {i + 1, tensors.size(), t.name, from, types[i], t.n_bytes, bytes.size(), done, total_in});
    }
  }
  if (out.written() != expect_size) {
    return make_error(str_format("%s: internal error: wrote %llu bytes, layout needs %llu",
                                 out_path.c_str(), static_cast<unsigned long long>(out.written()),
                                 static_cast<unsigned long long>(expect_size)));
  }
  sum.n_tensors = tensors.size();
  sum.in_file_bytes = in.file_size();
  sum.out_file_bytes = out.written();
  DARI_TRY(out.commit());
  return sum;
}

}  // namespace dari
