// GgufValue helpers: type names and numeric conversions.
#include <cmath>
#include <limits>
#include <type_traits>

#include "dari/io/gguf.h"

namespace dari {

std::string_view gguf_value_type_name(GgufValueType t) {
  switch (t) {
    case GgufValueType::UINT8: return "uint8";
    case GgufValueType::INT8: return "int8";
    case GgufValueType::UINT16: return "uint16";
    case GgufValueType::INT16: return "int16";
    case GgufValueType::UINT32: return "uint32";
    case GgufValueType::INT32: return "int32";
    case GgufValueType::FLOAT32: return "float32";
    case GgufValueType::BOOL: return "bool";
    case GgufValueType::STRING: return "string";
    case GgufValueType::ARRAY: return "array";
    case GgufValueType::UINT64: return "uint64";
    case GgufValueType::INT64: return "int64";
    case GgufValueType::FLOAT64: return "float64";
  }
  return "unknown";
}

bool GgufValue::is_integer() const {
  switch (type()) {
    case GgufValueType::UINT8:
    case GgufValueType::INT8:
    case GgufValueType::UINT16:
    case GgufValueType::INT16:
    case GgufValueType::UINT32:
    case GgufValueType::INT32:
    case GgufValueType::UINT64:
    case GgufValueType::INT64:
      return true;
    default:
      return false;
  }
}

bool GgufValue::is_float() const {
  return type() == GgufValueType::FLOAT32 || type() == GgufValueType::FLOAT64;
}

bool GgufValue::to_u64(uint64_t* out) const {
  return std::visit(
      [out](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_signed_v<T>) {
            if (x < 0) return false;
          }
          *out = static_cast<uint64_t>(x);
          return true;
        } else {
          return false;
        }
      },
      v_);
}

bool GgufValue::to_i64(int64_t* out) const {
  return std::visit(
      [out](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
          if constexpr (std::is_unsigned_v<T>) {
            if (static_cast<uint64_t>(x) > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
              return false;
          }
          *out = static_cast<int64_t>(x);
          return true;
        } else {
          return false;
        }
      },
      v_);
}

bool GgufValue::to_f64(double* out) const {
  return std::visit(
      [out](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr ((std::is_integral_v<T> && !std::is_same_v<T, bool>) ||
                      std::is_floating_point_v<T>) {
          *out = static_cast<double>(x);
          return true;
        } else {
          return false;
        }
      },
      v_);
}

const GgufArray* GgufValue::as_array() const {
  const auto* p = std::get_if<std::shared_ptr<GgufArray>>(&v_);
  return p != nullptr ? p->get() : nullptr;
}

}  // namespace dari
