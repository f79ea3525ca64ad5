# Grammar engine fuzzer: GBNF or JSON Schema in, matcher masks checked against brute force (see
# fuzz/fuzz_grammar.cpp).
dari_add_fuzzer(fuzz_grammar
  SOURCES ${CMAKE_CURRENT_SOURCE_DIR}/fuzz_grammar.cpp
  DEPS dari_grammar)
