# Tokenizer fuzzer: encode arbitrary bytes, decode arbitrary ids (see fuzz/fuzz_tokenizer.cpp).
dari_add_fuzzer(fuzz_tokenizer
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_tokenizer.cpp
  DEPS dari_tokenizer)
target_compile_definitions(fuzz_tokenizer PRIVATE DARI_TESTDATA_DIR="${DARI_TESTDATA_DIR}")
