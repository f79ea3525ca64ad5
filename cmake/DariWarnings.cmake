# Code off the inference hot path (the CLI, the server, the trust layer, templates, conversion,
# file reading, the benchmark drivers and every test) may be built at a lower optimisation level
# than the kernels and the forward pass, in builds whose point is checking rather than speed:
# CI's presets set DARI_COLD_OPT (-O1 for the warnings-as-errors release build, -O0 under the
# sanitizers), which roughly halves their build time. Empty (the default, and the release
# preset): the build type's flags everywhere. The hot targets always keep the build type's level.
set(DARI_COLD_OPT "" CACHE STRING
    "Optimisation flag for targets off the hot path, e.g. -O1 (empty: the build type's)")
set(DARI_HOT_TARGETS dari_core dari_tensor dari_simd dari_backend dari_backend_conformance
                     dari-backend-vulkan dari_kv dari_model dari_sampling dari_grammar dari_engine
                     dari_tokenizer)

# dari_target_defaults(<target>): warnings, sanitizers and the include layout every target shares.
function(dari_target_defaults target)
  if(DARI_COLD_OPT AND NOT target IN_LIST DARI_HOT_TARGETS)
    target_compile_options(${target} PRIVATE ${DARI_COLD_OPT})
  endif()
  target_compile_options(${target} PRIVATE -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor
                                           -Wcast-align -Wunused -Wimplicit-fallthrough)
  if(DARI_WERROR)
    target_compile_options(${target} PRIVATE -Werror)
  endif()
  # gcc 12 reports false -Wrestrict/-Warray-bounds/-Wstringop-* positives inside
  # libstdc++ containers at -O3 (GCC bugs 105329, 105651); ASan covers the real thing, and the
  # warnings stay on for other compilers.
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
    target_compile_options(${target} PRIVATE -Wno-restrict -Wno-array-bounds -Wno-stringop-overflow
                                             -Wno-stringop-overread)
  endif()
endfunction()

# Debug information comes from the build type (the sanitizer preset's -gline-tables-only is
# enough for symbolised reports with file:line).
if(DARI_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=undefined
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# libFuzzer's coverage instrumentation goes only where it guides the fuzzers: the libraries
# (dari_add_library) and the harnesses (fuzz/CMakeLists.txt), not the tests or the CLI.
if(DARI_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID MATCHES "Clang")
    message(FATAL_ERROR "DARI_FUZZ needs clang (libFuzzer)")
  endif()
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# dari_add_library(<name> SOURCES ... DEPS ...): one library per folder under src/.
function(dari_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;PUBLIC_DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                                     PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_PUBLIC_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  dari_target_defaults(${name})
  if(DARI_FUZZ)
    target_compile_options(${name} PRIVATE -fsanitize=fuzzer-no-link)
  endif()
endfunction()

# Precompiled headers: the heavy third-party headers (and the standard ones around them) that
# most translation units of a target include are parsed once per target instead of once per
# file. The tests share one PCH (every test has the same flags and definitions for that).
# -DDARI_PCH=OFF builds without them, e.g. to check that every file includes what it uses.
option(DARI_PCH "Precompile the third-party headers of the tool, the libraries and the tests" ON)

# dari_precompile_headers(<target> <header>...): the target's own PCH (nothing when DARI_PCH is
# OFF).
function(dari_precompile_headers target)
  if(DARI_PCH)
    target_precompile_headers(${target} PRIVATE ${ARGN})
  endif()
endfunction()

# What the tests' shared PCH holds.
set(DARI_TEST_PCH_HEADERS
    <gtest/gtest.h> <nlohmann/json.hpp> <algorithm> <array> <atomic> <chrono> <cmath> <cstdint>
    <cstdio> <cstdlib> <cstring> <filesystem> <fstream> <functional> <limits> <map> <memory>
    <mutex> <optional> <random> <set> <sstream> <string> <string_view> <thread> <vector>)

# dari_test_defaults(<target>): what every GoogleTest executable shares (dari_add_test): include
# folders, the data/source/build folder definitions, warnings, and the shared PCH (built once
# by dari_test_pch, a stub with exactly these settings; a test that adds definitions of its own
# still uses it, as the PCH's headers do not read them).
function(dari_test_defaults target)
  target_include_directories(${target} PRIVATE ${PROJECT_SOURCE_DIR}/src ${PROJECT_SOURCE_DIR}/tests)
  target_link_libraries(${target} PRIVATE GTest::gtest)
  target_compile_definitions(${target} PRIVATE DARI_TESTDATA_DIR="${DARI_TESTDATA_DIR}"
                                               DARI_BINARY_DIR="${PROJECT_BINARY_DIR}"
                                               DARI_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
  dari_target_defaults(${target})
  if(NOT DARI_PCH OR target STREQUAL "dari_test_pch")
    return()
  endif()
  if(NOT TARGET dari_test_pch)
    set(stub ${PROJECT_BINARY_DIR}/dari_test_pch.cpp)
    file(CONFIGURE OUTPUT ${stub} CONTENT "int main() { return 0; }\n")
    add_executable(dari_test_pch ${stub})
    dari_test_defaults(dari_test_pch)
    target_precompile_headers(dari_test_pch PRIVATE ${DARI_TEST_PCH_HEADERS})
  endif()
  target_precompile_headers(${target} REUSE_FROM dari_test_pch)
endfunction()

# dari_add_test(<name> SOURCES ... DEPS ...): a GoogleTest executable registered with CTest.
function(dari_add_test name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main)
  dari_test_defaults(${name})
  # gtest_discover_tests cannot pass a list as one property value: several labels become one
  # label "a,b", which `ctest -L b` (a regular expression) still selects.
  string(REPLACE ";" "," labels "${ARG_LABELS}")
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60 PROPERTIES LABELS "${labels}")
endfunction()
