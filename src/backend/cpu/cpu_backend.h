// The CPU backend: scalar-but-sane kernels over host memory, parallelised with a ThreadPool.
// Private to dari_backend; others use create_backend("cpu").
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "dari/backend/backend.h"

namespace dari {

Result<std::unique_ptr<Backend>> create_cpu_backend(const BackendOptions& opts);

// Copies s into the C buffer dst of cap bytes, cut to fit and always NUL-terminated (cap > 0);
// for the strings the CPU's plugin tables hand across the C ABI.
void copy_c_string(char* dst, size_t cap, std::string_view s);

}  // namespace dari
