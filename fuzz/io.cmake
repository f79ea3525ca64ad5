# GGUF reader fuzzer. Seeds: fuzz/corpus/fuzz_gguf/ (committed) and, after the io tests have
# run, ${DARI_BINARY_DIR}/fuzz-seeds/fuzz_gguf/ of the test build.
if(TARGET dari_io)
  dari_add_fuzzer(fuzz_gguf SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_gguf.cpp DEPS dari_io)
endif()
