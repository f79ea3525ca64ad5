# OpenAI request parser/validator of `dari serve` (src/server/api_parse.cpp).
# Seeds: fuzz/corpus/fuzz_request/ (first byte: 'c' chat, anything else completions; then the body).
if(TARGET dari_server)
  dari_add_fuzzer(fuzz_request SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_request.cpp DEPS dari_server)
endif()

# Raw byte streams through a Connection (HTTP framing, header checks, routing, exchanges with a
# fake engine). Seeds: fuzz/corpus/fuzz_http/ (byte 0: read chunk size, byte 1: hang up; then
# the bytes the client sends).
if(TARGET dari_server)
  dari_add_fuzzer(fuzz_http SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_http.cpp DEPS dari_server)
  target_include_directories(fuzz_http PRIVATE ${PROJECT_SOURCE_DIR}/src/server
                                               ${PROJECT_SOURCE_DIR}/tests)
  target_compile_definitions(fuzz_http PRIVATE DARI_SOURCE_DIR="${PROJECT_SOURCE_DIR}")
endif()
