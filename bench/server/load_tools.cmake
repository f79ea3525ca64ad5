# The load generators' shared HTTP client and soak_http. Included by bench/server (benchmark
# builds) and by tests/server (the `soak` CTest test), whichever comes first defines the targets.
include_guard(GLOBAL)
add_library(dari_load_client STATIC ${CMAKE_CURRENT_LIST_DIR}/load_client.cpp
                                    ${CMAKE_CURRENT_LIST_DIR}/soak_checks.cpp)
target_include_directories(dari_load_client PUBLIC ${CMAKE_CURRENT_LIST_DIR})
target_link_libraries(dari_load_client PUBLIC nlohmann_json::nlohmann_json Threads::Threads)
dari_target_defaults(dari_load_client)

add_executable(soak_http ${CMAKE_CURRENT_LIST_DIR}/soak_http.cpp)
target_link_libraries(soak_http PRIVATE dari_load_client)
dari_target_defaults(soak_http)
