// Result<T>: a value or an Error, returned across module boundaries instead of exceptions.
//
// Errors carry one human-readable message that names what was wrong and where (file, field,
// byte offset, op, shape). They are for bad input and resource failures; broken internal
// invariants use DARI_CHECK instead.
//
// Thread safety: plain values; no shared state.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>

namespace dari {

struct Error {
  std::string message;
};

// Builds an Error; prefer concise messages like "model.gguf: offset 1234: tensor 'x': ...".
inline Error make_error(std::string message) { return Error{std::move(message)}; }

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }

  // Accessing the value of a failed Result is a programming error and aborts.
  T& value() & { check_ok(); return std::get<0>(v_); }
  const T& value() const& { check_ok(); return std::get<0>(v_); }
  T&& value() && { check_ok(); return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const Error& error() const { return std::get<1>(v_); }
  const std::string& message() const { return std::get<1>(v_).message; }

 private:
  void check_ok() const {
    if (!ok()) {
      std::fprintf(stderr, "dari: value() on failed Result: %s\n", message().c_str());
      std::abort();
    }
  }
  std::variant<T, Error> v_;
};

// Result<void> equivalent.
class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Error error) : failed_(true), error_(std::move(error)) {}  // NOLINT: implicit by design
  static Status Ok() { return Status(); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return error_; }
  const std::string& message() const { return error_.message; }

 private:
  bool failed_ = false;
  Error error_;
};

}  // namespace dari

// Propagate a failed Status/Result from the current function.
#define DARI_TRY(expr)                                   \
  do {                                                   \
    auto&& dari_try_tmp_ = (expr);                       \
    if (!dari_try_tmp_.ok()) return dari_try_tmp_.error(); \
  } while (0)

#define DARI_CONCAT_INNER_(a, b) a##b
#define DARI_CONCAT_(a, b) DARI_CONCAT_INNER_(a, b)

// DARI_ASSIGN_OR_RETURN(auto x, expr): x = expr.value() or return expr.error().
#define DARI_ASSIGN_OR_RETURN(lhs, expr)                                   \
  auto DARI_CONCAT_(dari_res_, __LINE__) = (expr);                         \
  if (!DARI_CONCAT_(dari_res_, __LINE__).ok())                             \
    return DARI_CONCAT_(dari_res_, __LINE__).error();                      \
  lhs = std::move(DARI_CONCAT_(dari_res_, __LINE__)).value()

// Broken internal invariant (never user input or file contents): print and abort.
#define DARI_CHECK(cond)                                                                 \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      std::fprintf(stderr, "dari: internal check failed at %s:%d: %s\n", __FILE__, __LINE__, \
                   #cond);                                                               \
      std::abort();                                                                      \
    }                                                                                    \
  } while (0)
