// GGUF v3 writer. Layout: header, metadata, tensor directory, zero padding to the alignment,
// then each tensor's data padded to the alignment (as llama.cpp's and gguf-py's writers do).
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "dari/core/checked.h"
#include "dari/core/strings.h"
#include "dari/io/gguf.h"
#include "io/gguf_limits.h"

namespace dari {

namespace lim = gguf_limits;

namespace {

// Appends little-endian encodings to a byte vector (owned by the caller).
class ByteSink {
 public:
  explicit ByteSink(std::vector<uint8_t>* out) : out_(out) {}
  template <class T>
  void pod(T v) {
    uint8_t b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));
    out_->insert(out_->end(), b, b + sizeof(T));
  }
  void str(std::string_view s) {
    pod<uint64_t>(s.size());
    out_->insert(out_->end(), s.begin(), s.end());
  }
  void bytes(const std::vector<uint8_t>& b) { out_->insert(out_->end(), b.begin(), b.end()); }
  void pad_to(uint64_t alignment) {
    while (out_->size() % alignment != 0) out_->push_back(0);
  }

 private:
  std::vector<uint8_t>* out_;
};

Status write_value(ByteSink& sink, const std::string& key, const GgufValue& v, int depth) {
  return std::visit(
      [&](const auto& x) -> Status {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          sink.str(x);
        } else if constexpr (std::is_same_v<T, bool>) {
          sink.pod<uint8_t>(x ? 1 : 0);
        } else if constexpr (std::is_same_v<T, std::shared_ptr<GgufArray>>) {
          if (depth >= lim::kMaxArrayDepth) {
            return make_error("gguf writer: key '" + key + "': arrays nested too deeply");
          }
          if (!x) return make_error("gguf writer: key '" + key + "': null array");
          sink.pod<uint32_t>(static_cast<uint32_t>(x->elem_type));
          sink.pod<uint64_t>(x->items.size());
          for (const GgufValue& item : x->items) {
            if (item.type() != x->elem_type) {
              return make_error("gguf writer: key '" + key + "': array of " +
                                std::string(gguf_value_type_name(x->elem_type)) + " holds a " +
                                std::string(gguf_value_type_name(item.type())));
            }
            DARI_TRY(write_value(sink, key, item, depth + 1));
          }
        } else {
          sink.pod<T>(x);
        }
        return Status::Ok();
      },
      v.storage());
}

}  // namespace

void GgufWriter::set(std::string key, GgufValue value) {
  for (auto& kv : kv_) {
    if (kv.first == key) {
      kv.second = std::move(value);
      return;
    }
  }
  kv_.emplace_back(std::move(key), std::move(value));
}

void GgufWriter::set_string(std::string key, std::string v) {
  set(std::move(key), GgufValue(GgufValue::Storage(std::move(v))));
}

template <class T>
static GgufValue make_array(GgufValueType elem, const std::vector<T>& v) {
  auto arr = std::make_shared<GgufArray>();
  arr->elem_type = elem;
  arr->items.reserve(v.size());
  for (const T& x : v) arr->items.emplace_back(GgufValue::Storage(x));
  return GgufValue(GgufValue::Storage(std::move(arr)));
}

void GgufWriter::set_string_array(std::string key, const std::vector<std::string>& v) {
  set(std::move(key), make_array(GgufValueType::STRING, v));
}
void GgufWriter::set_f32_array(std::string key, const std::vector<float>& v) {
  set(std::move(key), make_array(GgufValueType::FLOAT32, v));
}
void GgufWriter::set_i32_array(std::string key, const std::vector<int32_t>& v) {
  set(std::move(key), make_array(GgufValueType::INT32, v));
}

void GgufWriter::set_alignment(uint32_t alignment) {
  alignment_ = alignment;
  set_u32("general.alignment", alignment);
}

Status GgufWriter::check_tensor(const std::string& name, GgmlType type,
                                const std::vector<uint64_t>& ne, uint64_t* n_bytes) const {
  if (name.empty() || name.size() > lim::kMaxWriterTensorNameLength) {
    return make_error(str_format("gguf writer: tensor '%s': name must be 1..%llu bytes",
                                 printable(name).c_str(),
                                 static_cast<unsigned long long>(lim::kMaxWriterTensorNameLength)));
  }
  for (const auto& t : tensors_) {
    if (t.name == name) return make_error("gguf writer: duplicate tensor '" + printable(name) + "'");
  }
  auto info = ggml_type_info(static_cast<uint32_t>(type));
  if (!info) return make_error("gguf writer: tensor '" + printable(name) + "': invalid type");
  if (ne.empty() || ne.size() > lim::kMaxDims) {
    return make_error(str_format("gguf writer: tensor '%s': %zu dims (must be 1..4)",
                                 printable(name).c_str(), ne.size()));
  }
  uint64_t rest = 1;
  for (size_t d = 0; d < ne.size(); ++d) {
    if (ne[d] == 0) return make_error("gguf writer: tensor '" + printable(name) + "': zero dim");
    if (d > 0 && !checked_mul(rest, ne[d], &rest)) {
      return make_error("gguf writer: tensor '" + printable(name) + "': size overflows");
    }
  }
  auto row = ggml_row_bytes(type, ne[0]);
  uint64_t total = 0;
  if (!row || !checked_mul(*row, rest, &total)) {
    return make_error(str_format("gguf writer: tensor '%s': dim 0 (%llu) is not a multiple of the "
                                 "%s block size %u, or the size overflows",
                                 printable(name).c_str(), static_cast<unsigned long long>(ne[0]),
                                 std::string(info->name).c_str(), info->block_elems));
  }
  *n_bytes = total;
  return Status::Ok();
}

Status GgufWriter::add_tensor(std::string name, GgmlType type, std::vector<uint64_t> ne,
                              const void* data, uint64_t n_bytes) {
  uint64_t expected = 0;
  DARI_TRY(check_tensor(name, type, ne, &expected));
  if (n_bytes != expected) {
    return make_error(str_format("gguf writer: tensor '%s': got %llu bytes, shape needs %llu",
                                 printable(name).c_str(), static_cast<unsigned long long>(n_bytes),
                                 static_cast<unsigned long long>(expected)));
  }
  if (data == nullptr && n_bytes != 0) {
    return make_error("gguf writer: tensor '" + printable(name) + "': null data");
  }
  PendingTensor t{std::move(name), type, std::move(ne), {}, true, n_bytes};
  const auto* p = static_cast<const uint8_t*>(data);
  t.data.assign(p, p + n_bytes);
  tensors_.push_back(std::move(t));
  return Status::Ok();
}

Status GgufWriter::add_tensor_info(std::string name, GgmlType type, std::vector<uint64_t> ne) {
  uint64_t n_bytes = 0;
  DARI_TRY(check_tensor(name, type, ne, &n_bytes));
  tensors_.push_back(PendingTensor{std::move(name), type, std::move(ne), {}, false, n_bytes});
  return Status::Ok();
}

Result<uint64_t> GgufWriter::effective_alignment() const {
  for (const auto& kv : kv_) {
    if (kv.first != "general.alignment") continue;
    const uint32_t* a = std::get_if<uint32_t>(&kv.second.storage());
    if (a == nullptr) return make_error("gguf writer: general.alignment must be a uint32");
    if (*a == 0 || (*a & (*a - 1)) != 0 || *a > lim::kMaxAlignment) {
      return make_error(str_format("gguf writer: alignment %u is not a power of two in 1..1048576", *a));
    }
    return static_cast<uint64_t>(*a);
  }
  return lim::kDefaultAlignment;
}

Status GgufWriter::serialize(std::vector<uint8_t>* out, bool with_data) const {
  DARI_ASSIGN_OR_RETURN(uint64_t align, effective_alignment());
  ByteSink sink(out);
  sink.pod<uint32_t>(lim::kMagic);
  sink.pod<uint32_t>(3);
  sink.pod<uint64_t>(tensors_.size());
  sink.pod<uint64_t>(kv_.size());
  for (const auto& [key, value] : kv_) {
    if (key.empty() || key.size() > lim::kMaxKeyLength) {
      return make_error("gguf writer: key '" + printable(key) + "' must be 1..65535 bytes");
    }
    sink.str(key);
    sink.pod<uint32_t>(static_cast<uint32_t>(value.type()));
    DARI_TRY(write_value(sink, key, value, 0));
  }
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    sink.str(t.name);
    sink.pod<uint32_t>(static_cast<uint32_t>(t.ne.size()));
    for (uint64_t d : t.ne) sink.pod<uint64_t>(d);
    sink.pod<uint32_t>(static_cast<uint32_t>(t.type));
    sink.pod<uint64_t>(offset);
    auto next = checked_align_up(offset + t.n_bytes, align);  // sizes were checked when added
    if (!next) return make_error("gguf writer: data section size overflows");
    offset = *next;
  }
  sink.pad_to(align);
  if (!with_data) return Status::Ok();
  for (const auto& t : tensors_) {
    if (!t.has_data) {
      return make_error("gguf writer: tensor '" + t.name + "' was declared without data");
    }
    sink.bytes(t.data);
    sink.pad_to(align);
  }
  return Status::Ok();
}

Result<std::vector<uint8_t>> GgufWriter::to_bytes() const {
  std::vector<uint8_t> out;
  DARI_TRY(serialize(&out, true));
  return out;
}

Result<std::vector<uint8_t>> GgufWriter::header_bytes() const {
  std::vector<uint8_t> out;
  DARI_TRY(serialize(&out, false));
  return out;
}

Result<uint64_t> GgufWriter::file_size() const {
  DARI_ASSIGN_OR_RETURN(std::vector<uint8_t> header, header_bytes());
  DARI_ASSIGN_OR_RETURN(uint64_t align, effective_alignment());
  uint64_t total = header.size();
  for (const auto& t : tensors_) {
    auto padded = checked_align_up(t.n_bytes, align);
    if (!padded || !checked_add(total, *padded, &total)) {
      return make_error("gguf writer: file size overflows");
    }
  }
  return total;
}

Status GgufWriter::write(const std::string& path) const {
  DARI_ASSIGN_OR_RETURN(std::vector<uint8_t> bytes, to_bytes());
  std::string tmp = path + ".tmp." + std::to_string(static_cast<long>(::getpid()));
  std::FILE* fp = std::fopen(tmp.c_str(), "wb");
  if (fp == nullptr) {
    return make_error(str_format("%s: cannot create: %s", tmp.c_str(), std::strerror(errno)));
  }
  bool ok = std::fwrite(bytes.data(), 1, bytes.size(), fp) == bytes.size();
  ok = (std::fflush(fp) == 0) && ok;
  ok = (::fsync(::fileno(fp)) == 0) && ok;
  int saved_errno = errno;
  ok = (std::fclose(fp) == 0) && ok;
  if (!ok) {
    std::remove(tmp.c_str());
    return make_error(str_format("%s: write failed: %s", tmp.c_str(), std::strerror(saved_errno)));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    std::remove(tmp.c_str());
    return make_error(str_format("%s: cannot rename into place: %s", path.c_str(), std::strerror(e)));
  }
  return Status::Ok();
}

}  // namespace dari
