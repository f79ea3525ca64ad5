// The CPU backend: scalar-but-sane kernels over host memory, parallelised with a ThreadPool.
// Private to dari_backend; others use create_backend("cpu").
#pragma once

#include <memory>

#include "dari/backend/backend.h"

namespace dari {

Result<std::unique_ptr<Backend>> create_cpu_backend(const BackendOptions& opts);

}  // namespace dari
