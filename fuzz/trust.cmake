# Trust layer (src/trust): the deployment policy parser (TOML -> validated Policy) and the
# provenance parser that `dari verify` runs on saved responses.
# Seeds: fuzz/corpus/fuzz_policy/ (policy files), fuzz/corpus/fuzz_provenance/ (saved
# responses, SSE transcripts, bare provenance objects).
if(TARGET dari_trust)
  dari_add_fuzzer(fuzz_policy SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_policy.cpp DEPS dari_trust)
  dari_add_fuzzer(fuzz_provenance SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_provenance.cpp
                  DEPS dari_trust)
endif()
