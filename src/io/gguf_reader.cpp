// GGUF reader: validates the header, metadata and tensor directory of an in-memory image.
//
// Every count, length, dim, offset and size from the file is checked against the bytes that are
// left (and for overflow) before it sizes an allocation or indexes memory. Errors read
// "<file>: offset <N>: <field>: <problem>".
#include <algorithm>
#include <cstring>
#include <limits>

#include "dari/core/checked.h"
#include "dari/core/strings.h"
#include "dari/io/gguf.h"
#include "io/gguf_limits.h"
#include "io/mapped_file.h"

namespace dari {

namespace lim = gguf_limits;

// Parses one image into a GgufFile. Single use; not thread-safe.
class GgufParser {
 public:
  GgufParser(const uint8_t* data, uint64_t size, const std::string& name)
      : data_(data), size_(size), name_(name) {}

  Status parse(GgufFile* f);

 private:
  // Failure bookkeeping: the innermost reader records the offset and problem; each caller on
  // the way out prepends its own field description.
  bool fail(uint64_t at, std::string msg) {
    err_offset_ = at;
    err_msg_ = std::move(msg);
    err_field_.clear();
    return false;
  }
  bool wrap(const std::string& outer) {
    err_field_ = err_field_.empty() ? outer : outer + ": " + err_field_;
    return false;
  }
  Error error() const {
    std::string msg = str_format("%s: offset %llu: ", name_.c_str(),
                                 static_cast<unsigned long long>(err_offset_));
    if (!err_field_.empty()) msg += err_field_ + ": ";
    return make_error(msg + err_msg_);
  }

  uint64_t left() const { return size_ - pos_; }
  bool need(uint64_t n, const char* what) {
    if (n <= left()) return true;
    return fail(pos_, str_format("%s needs %llu bytes but only %llu are left in the file", what,
                                 static_cast<unsigned long long>(n),
                                 static_cast<unsigned long long>(left())));
  }
  template <class T>
  bool read_pod(T* out, const char* what) {
    if (!need(sizeof(T), what)) return false;
    std::memcpy(out, data_ + pos_, sizeof(T));  // the file is little-endian, like every host we run on
    pos_ += sizeof(T);
    return true;
  }
  bool read_string(std::string* out, uint64_t max_len, const char* what);
  bool read_value(GgufValueType type, int depth, GgufValue* out);
  bool read_array(int depth, GgufValue* out);
  bool read_header(uint64_t* n_tensors, uint64_t* n_kv);
  bool read_kv(GgufFile* f, uint64_t index);
  bool apply_alignment(GgufFile* f);
  bool read_tensor_info(GgufFile* f, uint64_t index);
  bool read_dims(GgufTensorInfo* t);
  bool place_tensors(GgufFile* f);

  const uint8_t* data_;
  uint64_t size_;
  const std::string& name_;
  uint64_t pos_ = 0;
  uint64_t total_array_elements_ = 0;      // across all arrays, for kMaxArrayElements
  uint64_t alignment_pos_ = 0;              // where general.alignment's value starts
  std::vector<uint64_t> tensor_info_pos_;   // file offset of each tensor's directory entry
  uint64_t err_offset_ = 0;
  std::string err_field_;
  std::string err_msg_;
};

bool GgufParser::read_string(std::string* out, uint64_t max_len, const char* what) {
  uint64_t at = pos_;
  uint64_t len = 0;
  if (!read_pod(&len, what)) return false;
  if (len > max_len) {
    return fail(at, str_format("%s length %llu exceeds the limit of %llu", what,
                               static_cast<unsigned long long>(len),
                               static_cast<unsigned long long>(max_len)));
  }
  if (len > left()) {
    return fail(at, str_format("%s length %llu exceeds the %llu bytes left in the file", what,
                               static_cast<unsigned long long>(len),
                               static_cast<unsigned long long>(left())));
  }
  out->assign(reinterpret_cast<const char*>(data_ + pos_), static_cast<size_t>(len));
  pos_ += len;
  return true;
}

bool GgufParser::read_value(GgufValueType type, int depth, GgufValue* out) {
  switch (type) {
#define DARI_GGUF_POD_CASE(tag, T)                   \
  case GgufValueType::tag: {                         \
    T v{};                                           \
    if (!read_pod(&v, #T " value")) return false;    \
    *out = GgufValue(GgufValue::Storage(v));         \
    return true;                                     \
  }
    DARI_GGUF_POD_CASE(UINT8, uint8_t)
    DARI_GGUF_POD_CASE(INT8, int8_t)
    DARI_GGUF_POD_CASE(UINT16, uint16_t)
    DARI_GGUF_POD_CASE(INT16, int16_t)
    DARI_GGUF_POD_CASE(UINT32, uint32_t)
    DARI_GGUF_POD_CASE(INT32, int32_t)
    DARI_GGUF_POD_CASE(FLOAT32, float)
    DARI_GGUF_POD_CASE(UINT64, uint64_t)
    DARI_GGUF_POD_CASE(INT64, int64_t)
    DARI_GGUF_POD_CASE(FLOAT64, double)
#undef DARI_GGUF_POD_CASE
    case GgufValueType::BOOL: {
      uint64_t at = pos_;
      uint8_t b = 0;
      if (!read_pod(&b, "bool value")) return false;
      if (b > 1) return fail(at, str_format("bool value %u is neither 0 nor 1", b));
      *out = GgufValue(GgufValue::Storage(b == 1));
      return true;
    }
    case GgufValueType::STRING: {
      std::string s;
      if (!read_string(&s, std::numeric_limits<uint64_t>::max(), "string value")) return false;
      *out = GgufValue(GgufValue::Storage(std::move(s)));
      return true;
    }
    case GgufValueType::ARRAY:
      return read_array(depth + 1, out);
  }
  return fail(pos_, "internal: unhandled value type");
}

// Bytes the smallest element of `t` takes in the file.
static uint64_t min_encoded_size(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::BOOL: return 1;
    case GgufValueType::UINT16:
    case GgufValueType::INT16: return 2;
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::FLOAT32: return 4;
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
    case GgufValueType::FLOAT64:
    case GgufValueType::STRING: return 8;  // a string is at least its u64 length
    case GgufValueType::ARRAY: return 12;  // u32 element type + u64 count
  }
  return 1;
}

static bool valid_value_type(uint32_t raw) { return raw <= static_cast<uint32_t>(GgufValueType::FLOAT64); }

bool GgufParser::read_array(int depth, GgufValue* out) {
  uint64_t at = pos_;
  if (depth > lim::kMaxArrayDepth) {
    return fail(at, str_format("arrays nested deeper than %d levels", lim::kMaxArrayDepth));
  }
  uint32_t raw_type = 0;
  if (!read_pod(&raw_type, "array element type")) return false;
  if (!valid_value_type(raw_type)) return fail(at, str_format("invalid array element type %u", raw_type));
  auto elem_type = static_cast<GgufValueType>(raw_type);
  uint64_t count_at = pos_;
  uint64_t count = 0;
  if (!read_pod(&count, "array count")) return false;
  uint64_t min_bytes = 0;
  if (!checked_mul(count, min_encoded_size(elem_type), &min_bytes) || min_bytes > left()) {
    return fail(count_at, str_format("array count %llu of %s does not fit in the %llu bytes left",
                                     static_cast<unsigned long long>(count),
                                     std::string(gguf_value_type_name(elem_type)).c_str(),
                                     static_cast<unsigned long long>(left())));
  }
  if (!checked_add(total_array_elements_, count, &total_array_elements_) ||
      total_array_elements_ > lim::kMaxArrayElements) {
    return fail(count_at, str_format("metadata arrays hold more than %llu elements in total",
                                     static_cast<unsigned long long>(lim::kMaxArrayElements)));
  }
  auto arr = std::make_shared<GgufArray>();
  arr->elem_type = elem_type;
  arr->items.reserve(static_cast<size_t>(count));  // bounded by the bytes left (checked above)
  for (uint64_t i = 0; i < count; ++i) {
    GgufValue v;
    if (!read_value(elem_type, depth, &v)) {
      return wrap(str_format("element %llu", static_cast<unsigned long long>(i)));
    }
    arr->items.push_back(std::move(v));
  }
  *out = GgufValue(GgufValue::Storage(std::move(arr)));
  return true;
}

bool GgufParser::read_header(uint64_t* n_tensors, uint64_t* n_kv) {
  uint32_t magic = 0;
  if (size_ < 4) return fail(0, str_format("file too small for the GGUF magic (%llu bytes)",
                                           static_cast<unsigned long long>(size_)));
  std::memcpy(&magic, data_, 4);
  if (magic != lim::kMagic) {
    return fail(0, "bad magic '" + printable(std::string_view(reinterpret_cast<const char*>(data_), 4)) +
                       "' (expected 'GGUF'; not a GGUF file)");
  }
  pos_ = 4;
  uint32_t version = 0;
  if (!read_pod(&version, "version")) return wrap("version");
  if (version == 1) {
    return fail(4, "GGUF version 1 is obsolete and not supported (reconvert the model)");
  }
  if ((version & 0xffffu) == 0 && __builtin_bswap32(version) >= 1 && __builtin_bswap32(version) <= 3) {
    return fail(4, str_format("big-endian GGUF file (version %u byte-swapped) is not supported",
                              __builtin_bswap32(version)));
  }
  if (version != 2 && version != 3) {
    return fail(4, str_format("unsupported GGUF version %u (supported: 2, 3)", version));
  }
  if (!read_pod(n_tensors, "tensor count")) return wrap("header");
  if (!read_pod(n_kv, "metadata count")) return wrap("header");
  if (*n_tensors > lim::kMaxTensorCount) {
    return fail(8, str_format("tensor count %llu exceeds the limit of %llu",
                              static_cast<unsigned long long>(*n_tensors),
                              static_cast<unsigned long long>(lim::kMaxTensorCount)));
  }
  if (*n_kv > lim::kMaxKvCount) {
    return fail(16, str_format("metadata count %llu exceeds the limit of %llu",
                               static_cast<unsigned long long>(*n_kv),
                               static_cast<unsigned long long>(lim::kMaxKvCount)));
  }
  // Bound both counts by the bytes left before anything is reserved.
  uint64_t kv_min = 0, t_min = 0, total = 0;
  if (!checked_mul(*n_kv, lim::kMinKvBytes, &kv_min) || kv_min > left()) {
    return fail(16, str_format("metadata count %llu cannot fit in the %llu bytes left",
                               static_cast<unsigned long long>(*n_kv),
                               static_cast<unsigned long long>(left())));
  }
  if (!checked_mul(*n_tensors, lim::kMinTensorInfoBytes, &t_min) ||
      !checked_add(kv_min, t_min, &total) || total > left()) {
    return fail(8, str_format("tensor count %llu cannot fit in the %llu bytes left",
                              static_cast<unsigned long long>(*n_tensors),
                              static_cast<unsigned long long>(left())));
  }
  return true;
}

bool GgufParser::read_kv(GgufFile* f, uint64_t index) {
  uint64_t at = pos_;
  std::string key;
  if (!read_string(&key, lim::kMaxKeyLength, "key")) {
    return wrap(str_format("kv %llu", static_cast<unsigned long long>(index)));
  }
  std::string field = str_format("kv %llu '%s'", static_cast<unsigned long long>(index),
                                 printable(key).c_str());
  if (key.empty()) return fail(at, "empty key"), wrap(field);
  if (f->kv_index_.count(key) != 0) return fail(at, "duplicate key"), wrap(field);
  uint64_t type_at = pos_;
  uint32_t raw_type = 0;
  if (!read_pod(&raw_type, "value type")) return wrap(field);
  if (!valid_value_type(raw_type)) {
    return fail(type_at, str_format("invalid value type %u", raw_type)), wrap(field);
  }
  if (key == "general.alignment") alignment_pos_ = pos_;
  GgufValue v;
  if (!read_value(static_cast<GgufValueType>(raw_type), 0, &v)) return wrap(field);
  f->kv_index_.emplace(key, f->kv_.size());
  f->kv_.emplace_back(std::move(key), std::move(v));
  return true;
}

bool GgufParser::apply_alignment(GgufFile* f) {
  const GgufValue* v = f->find("general.alignment");
  if (v == nullptr) {
    f->alignment_ = lim::kDefaultAlignment;
    return true;
  }
  uint64_t a = 0;
  if (!v->to_u64(&a)) {
    return fail(alignment_pos_, "value of type " + std::string(gguf_value_type_name(v->type())) +
                                    " is not an unsigned integer"),
           wrap("general.alignment");
  }
  if (a == 0 || (a & (a - 1)) != 0 || a > lim::kMaxAlignment) {
    return fail(alignment_pos_, str_format("alignment %llu is not a power of two in 1..%llu",
                                           static_cast<unsigned long long>(a),
                                           static_cast<unsigned long long>(lim::kMaxAlignment))),
           wrap("general.alignment");
  }
  f->alignment_ = a;
  return true;
}

bool GgufParser::read_dims(GgufTensorInfo* t) {
  uint64_t at = pos_;
  if (!read_pod(&t->n_dims, "n_dims")) return false;
  if (t->n_dims < 1 || t->n_dims > lim::kMaxDims) {
    return fail(at, str_format("n_dims %u is not in 1..%u", t->n_dims, lim::kMaxDims));
  }
  for (uint32_t d = 0; d < t->n_dims; ++d) {
    uint64_t dim_at = pos_;
    if (!read_pod(&t->ne[d], "dim")) return false;
    // Zero-sized tensors are legal in ggml but no model uses them; we reject them so every
    // tensor has data. Dims past INT64_MAX would be negative in ggml's int64_t shapes.
    if (t->ne[d] == 0 || t->ne[d] > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return fail(dim_at, str_format("dim %u is %llu (must be 1..2^63-1)", d,
                                     static_cast<unsigned long long>(t->ne[d])));
    }
  }
  auto n = checked_product({t->ne[0], t->ne[1], t->ne[2], t->ne[3]});
  if (!n || *n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
    return fail(at, "dims product overflows");
  }
  t->n_elements = *n;
  return true;
}

bool GgufParser::read_tensor_info(GgufFile* f, uint64_t index) {
  uint64_t at = pos_;
  tensor_info_pos_.push_back(at);
  GgufTensorInfo t;
  std::string field = str_format("tensor %llu", static_cast<unsigned long long>(index));
  if (!read_string(&t.name, lim::kMaxTensorNameLength, "name")) return wrap(field);
  field += " '" + printable(t.name) + "'";
  if (t.name.empty()) return fail(at, "empty name"), wrap(field);
  if (f->tensor_index_.count(t.name) != 0) return fail(at, "duplicate tensor name"), wrap(field);
  if (!read_dims(&t)) return wrap(field);
  uint64_t type_at = pos_;
  uint32_t raw_type = 0;
  if (!read_pod(&raw_type, "type")) return wrap(field);
  auto info = ggml_type_info(raw_type);
  if (!info) return fail(type_at, str_format("unknown tensor type %u", raw_type)), wrap(field);
  t.type = info->type;
  if (t.ne[0] % info->block_elems != 0) {
    return fail(type_at, str_format("dim 0 (%llu) is not a multiple of the %s block size %u",
                                    static_cast<unsigned long long>(t.ne[0]),
                                    std::string(info->name).c_str(), info->block_elems)),
           wrap(field);
  }
  auto row = ggml_row_bytes(t.type, t.ne[0]);
  auto bytes = row ? checked_product({*row, t.ne[1], t.ne[2], t.ne[3]}) : std::nullopt;
  if (!bytes) return fail(type_at, "byte size overflows"), wrap(field);
  t.n_bytes = *bytes;
  uint64_t off_at = pos_;
  if (!read_pod(&t.offset, "offset")) return wrap(field);
  if (t.offset % f->alignment_ != 0) {
    return fail(off_at, str_format("offset %llu is not a multiple of the alignment %llu",
                                   static_cast<unsigned long long>(t.offset),
                                   static_cast<unsigned long long>(f->alignment_))),
           wrap(field);
  }
  f->tensor_index_.emplace(t.name, f->tensors_.size());
  f->tensors_.push_back(std::move(t));
  return true;
}

// Computes the data section start and checks every tensor lies inside the file, without overlap.
bool GgufParser::place_tensors(GgufFile* f) {
  auto data_offset = checked_align_up(pos_, f->alignment_);
  if (!data_offset) return fail(pos_, "data section offset overflows");
  f->data_offset_ = *data_offset;
  if (f->tensors_.empty()) return true;  // vocab-only files may end before the padding
  if (f->data_offset_ > size_) {
    return fail(pos_, str_format("data section starts at %llu, past the end of the file (%llu bytes)",
                                 static_cast<unsigned long long>(f->data_offset_),
                                 static_cast<unsigned long long>(size_)));
  }
  const uint64_t data_size = size_ - f->data_offset_;
  std::vector<size_t> order(f->tensors_.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t i : order) {
    GgufTensorInfo& t = f->tensors_[i];
    if (!range_within(t.offset, t.n_bytes, data_size)) {
      return fail(tensor_info_pos_[i],
                  str_format("data [%llu, +%llu) runs past the end of the file (data section is "
                             "%llu bytes)",
                             static_cast<unsigned long long>(t.offset),
                             static_cast<unsigned long long>(t.n_bytes),
                             static_cast<unsigned long long>(data_size))),
             wrap(str_format("tensor %zu '%s'", i, printable(t.name).c_str()));
    }
    t.data = data_ + f->data_offset_ + t.offset;
  }
  std::sort(order.begin(), order.end(), [f](size_t a, size_t b) {
    return f->tensors_[a].offset < f->tensors_[b].offset;
  });
  for (size_t k = 1; k < order.size(); ++k) {
    const GgufTensorInfo& prev = f->tensors_[order[k - 1]];
    const GgufTensorInfo& cur = f->tensors_[order[k]];
    if (prev.offset + prev.n_bytes > cur.offset) {  // no overflow: range_within held above
      return fail(tensor_info_pos_[order[k]],
                  str_format("data overlaps tensor '%s'", printable(prev.name).c_str())),
             wrap(str_format("tensor %zu '%s'", order[k], printable(cur.name).c_str()));
    }
  }
  return true;
}

Status GgufParser::parse(GgufFile* f) {
  uint64_t n_tensors = 0, n_kv = 0;
  if (!read_header(&n_tensors, &n_kv)) return error();
  std::memcpy(&f->version_, data_ + 4, 4);
  f->kv_.reserve(static_cast<size_t>(n_kv));  // bounded by the bytes left (read_header)
  for (uint64_t i = 0; i < n_kv; ++i) {
    if (!read_kv(f, i)) return error();
  }
  if (!apply_alignment(f)) return error();
  f->tensors_.reserve(static_cast<size_t>(n_tensors));
  tensor_info_pos_.reserve(static_cast<size_t>(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    if (!read_tensor_info(f, i)) return error();
  }
  if (!place_tensors(f)) return error();
  return Status::Ok();
}

GgufFile::GgufFile(GgufFile&&) noexcept = default;
GgufFile& GgufFile::operator=(GgufFile&&) noexcept = default;
GgufFile::~GgufFile() = default;

Result<GgufFile> GgufFile::parse(const uint8_t* data, uint64_t size, std::string name) {
  GgufFile f;
  f.path_ = std::move(name);
  f.base_ = data;
  f.size_ = size;
  GgufParser parser(data, size, f.path_);
  Status st = parser.parse(&f);
  if (!st.ok()) return st.error();
  return f;
}

Result<GgufFile> GgufFile::open(const std::string& path) {
  DARI_ASSIGN_OR_RETURN(std::unique_ptr<MappedFile> map, MappedFile::open(path));
  DARI_ASSIGN_OR_RETURN(GgufFile f, parse(map->data(), map->size(), path));
  f.map_ = std::move(map);  // tensor pointers point into this mapping, which now lives with f
  return f;
}

const GgufValue* GgufFile::find(std::string_view key) const {
  auto it = kv_index_.find(key);
  return it == kv_index_.end() ? nullptr : &kv_[it->second].second;
}

const GgufTensorInfo* GgufFile::find_tensor(std::string_view name) const {
  auto it = tensor_index_.find(name);
  return it == tensor_index_.end() ? nullptr : &tensors_[it->second];
}

void GgufFile::release_tensor_pages(const GgufTensorInfo& t) const {
  if (map_ != nullptr) map_->release_pages(t.data, t.n_bytes);
}

}  // namespace dari
