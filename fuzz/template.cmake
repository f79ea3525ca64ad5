# Jinja chat-template interpreter (src/template).
dari_add_fuzzer(fuzz_template
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_template.cpp
  DEPS dari_template)
