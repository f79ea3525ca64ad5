# OpenAI request parser/validator of `dari serve` (src/server/api_parse.cpp).
# Seeds: fuzz/corpus/request/ (first byte: 'c' chat, anything else completions; then the body).
if(TARGET dari_server)
  dari_add_fuzzer(fuzz_request SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_request.cpp DEPS dari_server)
endif()
