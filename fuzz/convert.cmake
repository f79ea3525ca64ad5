# Safetensors / index / SentencePiece parser fuzzer. Seeds: fuzz/corpus/fuzz_safetensors/.
if(TARGET dari_convert)
  dari_add_fuzzer(fuzz_safetensors SOURCES ${CMAKE_CURRENT_LIST_DIR}/fuzz_safetensors.cpp
                  DEPS dari_convert)
endif()
