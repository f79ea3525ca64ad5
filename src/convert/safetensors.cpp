#include "dari/convert/safetensors.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>
#include <optional>

#include "convert/json_util.h"
#include "dari/core/checked.h"
#include "dari/core/strings.h"
#include "io/mapped_file.h"

namespace dari {
namespace {

struct DtypeEntry {
  SafetensorsDtype dtype;
  std::string_view name;
  uint32_t bytes;
};

constexpr DtypeEntry kDtypes[] = {
    {SafetensorsDtype::kBool, "BOOL", 1},     {SafetensorsDtype::kU8, "U8", 1},
    {SafetensorsDtype::kI8, "I8", 1},         {SafetensorsDtype::kI16, "I16", 2},
    {SafetensorsDtype::kU16, "U16", 2},       {SafetensorsDtype::kI32, "I32", 4},
    {SafetensorsDtype::kU32, "U32", 4},       {SafetensorsDtype::kI64, "I64", 8},
    {SafetensorsDtype::kU64, "U64", 8},       {SafetensorsDtype::kF16, "F16", 2},
    {SafetensorsDtype::kBF16, "BF16", 2},     {SafetensorsDtype::kF32, "F32", 4},
    {SafetensorsDtype::kF64, "F64", 8},       {SafetensorsDtype::kF8E4M3, "F8_E4M3", 1},
    {SafetensorsDtype::kF8E5M2, "F8_E5M2", 1}, {SafetensorsDtype::kF8E8M0, "F8_E8M0", 1},
    {SafetensorsDtype::kF4, "F4", 0},
};

std::optional<SafetensorsDtype> dtype_from_name(std::string_view s) {
  for (const auto& e : kDtypes) {
    if (e.name == s) return e.dtype;
  }
  return std::nullopt;
}

// Exact IEEE half -> float (kept local so the reader needs no numerics library).
float half_to_float(uint16_t h) {
  uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  uint32_t bits = 0;
  if (exp == 0) {
    float mag = std::ldexp(static_cast<float>(mant), -24);  // zero or subnormal
    std::memcpy(&bits, &mag, 4);
    bits |= sign;
  } else if (exp == 31) {
    bits = sign | 0x7f800000u | (mant << 13);
  } else {
    bits = sign | ((exp + 112) << 23) | (mant << 13);
  }
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

float bfloat_to_float(uint16_t h) {
  uint32_t bits = static_cast<uint32_t>(h) << 16;
  float f = 0;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint64_t read_le64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = (v << 8) | p[i];
  return v;
}

}  // namespace

std::string_view safetensors_dtype_name(SafetensorsDtype t) {
  for (const auto& e : kDtypes) {
    if (e.dtype == t) return e.name;
  }
  return "?";
}

uint32_t safetensors_dtype_bytes(SafetensorsDtype t) {
  for (const auto& e : kDtypes) {
    if (e.dtype == t) return e.bytes;
  }
  return 0;
}

// Parses the header and fills a SafetensorsFile. A struct (friend of SafetensorsFile) so the
// steps can be separate functions with access to the private members.
struct SafetensorsParser {
  SafetensorsFile* out;
  const uint8_t* base;
  uint64_t size;
  uint64_t data_start = 0;

  Error err(const std::string& msg) const { return make_error(out->path_ + ": " + msg); }
  Error tensor_err(const std::string& tname, const std::string& msg) const {
    return make_error(out->path_ + ": tensor '" + printable(tname) + "': " + msg);
  }

  Status run() {
    if (size < 8) return err(str_format("file too small (%llu bytes) for a safetensors header",
                                        static_cast<unsigned long long>(size)));
    uint64_t header_len = read_le64(base);
    if (header_len > SafetensorsFile::kMaxHeaderBytes) {
      return err(str_format("header length %llu exceeds the %llu-byte limit",
                            static_cast<unsigned long long>(header_len),
                            static_cast<unsigned long long>(SafetensorsFile::kMaxHeaderBytes)));
    }
    if (header_len > size - 8) {
      return err(str_format("header length %llu runs past the end of the file (%llu bytes)",
                            static_cast<unsigned long long>(header_len),
                            static_cast<unsigned long long>(size)));
    }
    data_start = 8 + header_len;
    std::string_view text(reinterpret_cast<const char*>(base + 8), header_len);
    DARI_ASSIGN_OR_RETURN(nlohmann::json header, parse_json_limited(text, out->path_ + ": header"));
    if (!header.is_object()) return err("header is not a JSON object");
    for (const auto& [key, value] : header.items()) {
      if (key == "__metadata__") {
        DARI_TRY(parse_metadata(value));
        continue;
      }
      DARI_TRY(parse_tensor(key, value));
    }
    return check_overlaps();
  }

  Status parse_metadata(const nlohmann::json& value) {
    if (!value.is_object()) return err("__metadata__ is not an object");
    for (const auto& [k, v] : value.items()) {
      if (!v.is_string()) {
        return err("__metadata__ value for '" + printable(k) + "' is not a string");
      }
      out->metadata_[k] = v.get<std::string>();
    }
    return Status::Ok();
  }

  Status parse_shape(const std::string& name, const nlohmann::json& shape, SafetensorsTensor* t) {
    if (!shape.is_array()) return tensor_err(name, "shape is not an array");
    if (shape.size() > 8) return tensor_err(name, "shape has more than 8 dims");
    uint64_t n = 1;
    for (const auto& d : shape) {
      if (!d.is_number_integer()) return tensor_err(name, "shape holds a non-integer");
      if (!d.is_number_unsigned()) return tensor_err(name, "shape holds a negative dimension");
      uint64_t dim = d.get<uint64_t>();
      if (!checked_mul(n, dim, &n)) return tensor_err(name, "shape element count overflows");
      t->shape.push_back(dim);
    }
    t->n_elements = n;
    return Status::Ok();
  }

  Status parse_tensor(const std::string& name, const nlohmann::json& v) {
    if (!v.is_object()) return tensor_err(name, "entry is not an object");
    if (name.empty()) return err("empty tensor name");
    SafetensorsTensor t;
    t.name = name;
    auto dt = v.find("dtype");
    if (dt == v.end() || !dt->is_string()) return tensor_err(name, "missing or non-string dtype");
    auto dtype = dtype_from_name(dt->get_ref<const std::string&>());
    if (!dtype) {
      return tensor_err(name, "unknown dtype '" + printable(dt->get_ref<const std::string&>()) + "'");
    }
    t.dtype = *dtype;
    auto sh = v.find("shape");
    if (sh == v.end()) return tensor_err(name, "missing shape");
    DARI_TRY(parse_shape(name, *sh, &t));
    auto offs = v.find("data_offsets");
    if (offs == v.end() || !offs->is_array() || offs->size() != 2 ||
        !(*offs)[0].is_number_unsigned() || !(*offs)[1].is_number_unsigned()) {
      return tensor_err(name, "data_offsets must be [begin, end] with non-negative integers");
    }
    uint64_t begin = (*offs)[0].get<uint64_t>();
    uint64_t end = (*offs)[1].get<uint64_t>();
    if (end < begin) return tensor_err(name, "data_offsets end < begin");
    uint64_t elem_bytes = safetensors_dtype_bytes(t.dtype);
    uint64_t expect = 0;
    if (t.dtype == SafetensorsDtype::kF4) {
      expect = t.n_elements / 2 + t.n_elements % 2;  // two per byte
    } else if (!checked_mul(t.n_elements, elem_bytes, &expect)) {
      return tensor_err(name, "byte size overflows");
    }
    if (end - begin != expect) {
      return tensor_err(name, str_format("data_offsets span %llu bytes, but shape and dtype %s "
                                         "need %llu",
                                         static_cast<unsigned long long>(end - begin),
                                         std::string(safetensors_dtype_name(t.dtype)).c_str(),
                                         static_cast<unsigned long long>(expect)));
    }
    if (!range_within(data_start, end, size)) {
      return tensor_err(name, str_format("data [%llu, %llu) runs past the end of the file "
                                         "(data section holds %llu bytes)",
                                         static_cast<unsigned long long>(begin),
                                         static_cast<unsigned long long>(end),
                                         static_cast<unsigned long long>(size - data_start)));
    }
    t.n_bytes = end - begin;
    t.file_offset = data_start + begin;
    t.data = base + t.file_offset;
    out->tensors_.push_back(std::move(t));
    return Status::Ok();
  }

  Status check_overlaps() {
    auto& ts = out->tensors_;
    std::sort(ts.begin(), ts.end(), [](const SafetensorsTensor& a, const SafetensorsTensor& b) {
      return a.file_offset != b.file_offset ? a.file_offset < b.file_offset : a.n_bytes < b.n_bytes;
    });
    for (size_t i = 1; i < ts.size(); ++i) {
      const auto& prev = ts[i - 1];
      // Empty tensors occupy no bytes and cannot overlap anything.
      if (prev.n_bytes != 0 && ts[i].n_bytes != 0 &&
          prev.file_offset + prev.n_bytes > ts[i].file_offset) {
        return tensor_err(ts[i].name, "data overlaps tensor '" + printable(prev.name) + "'");
      }
    }
    for (size_t i = 0; i < ts.size(); ++i) out->index_[ts[i].name] = i;
    return Status::Ok();
  }
};

SafetensorsFile::SafetensorsFile(SafetensorsFile&&) noexcept = default;
SafetensorsFile& SafetensorsFile::operator=(SafetensorsFile&&) noexcept = default;
SafetensorsFile::~SafetensorsFile() = default;

Result<SafetensorsFile> SafetensorsFile::parse(const uint8_t* data, uint64_t size,
                                               std::string name) {
  SafetensorsFile f;
  f.path_ = std::move(name);
  SafetensorsParser p{&f, data, size};
  DARI_TRY(p.run());
  return f;
}

Result<SafetensorsFile> SafetensorsFile::open(const std::string& path) {
  DARI_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
  const uint8_t* data = map->data();
  uint64_t size = map->size();
  DARI_ASSIGN_OR_RETURN(SafetensorsFile f, parse(data, size, path));
  f.map_ = std::move(map);
  return f;
}

const SafetensorsTensor* SafetensorsFile::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

Status safetensors_to_f32(const SafetensorsTensor& t, float* dst) {
  const uint8_t* p = t.data;
  switch (t.dtype) {
    case SafetensorsDtype::kF32:
      // A zero-element tensor may have null data (and dst): memcpy must not see null.
      if (t.n_elements != 0) std::memcpy(dst, p, t.n_elements * sizeof(float));
      return Status::Ok();
    case SafetensorsDtype::kF16:
    case SafetensorsDtype::kBF16: {
      bool bf = t.dtype == SafetensorsDtype::kBF16;
      for (uint64_t i = 0; i < t.n_elements; ++i) {
        auto h = static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
        dst[i] = bf ? bfloat_to_float(h) : half_to_float(h);
      }
      return Status::Ok();
    }
    default:
      return make_error("tensor '" + printable(t.name) + "': dtype " +
                        std::string(safetensors_dtype_name(t.dtype)) +
                        " is not supported for conversion (only F32, F16 and BF16)");
  }
}

}  // namespace dari
