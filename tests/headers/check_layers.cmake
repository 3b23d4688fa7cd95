cmake_minimum_required(VERSION 3.16)
# Script mode: -DSOURCE=<flashsale source>
# The layers of src/ hold: only src/transport/ includes hiredis, and besides
# the transport itself only the transport's own tests include its private
# headers (transport/...). Components, common code, public headers, examples
# and benches go through flashsale/client.hpp; the exceptions are the ceiling
# bench's baseline, a plain hiredis loop that runs no library code, and
# bench/metrics_overhead_bench.cpp, which measures the transport's metrics
# hooks themselves (their cost is below the noise of a round trip end to end).
set(hiredis_baselines bench/raw_hiredis_loop.cpp)
set(transport_tests
    tests/unit/reply_test.cpp tests/unit/resp_command_test.cpp tests/unit/script_test.cpp
    tests/unit/slot_map_test.cpp
    tests/unit/cluster_rounds_test.cpp tests/support/redis_cluster.cpp
    bench/metrics_overhead_bench.cpp)
file(GLOB_RECURSE sources RELATIVE ${SOURCE}
     ${SOURCE}/src/*.cpp ${SOURCE}/src/*.hpp ${SOURCE}/include/*.hpp
     ${SOURCE}/examples/*.cpp ${SOURCE}/examples/*.hpp ${SOURCE}/bench/*.cpp ${SOURCE}/bench/*.hpp
     ${SOURCE}/tests/*.cpp ${SOURCE}/tests/*.hpp ${SOURCE}/tools/*.cpp ${SOURCE}/tools/*.hpp)
if(NOT sources)
  message(FATAL_ERROR "no sources found under ${SOURCE}")
endif()
set(violations "")
foreach(path IN LISTS sources)
  if(path MATCHES "^src/transport/")
    continue()
  endif()
  file(STRINGS ${SOURCE}/${path} includes REGEX "^[ \t]*#[ \t]*include[ \t]*[<\"]")
  foreach(line IN LISTS includes)
    if(line MATCHES "[<\"](hiredis|adapters/|async\\.h|read\\.h|sds\\.h)" AND NOT path IN_LIST
                                                                      hiredis_baselines)
      list(APPEND violations "${path}: ${line}")
    elseif(line MATCHES "[<\"]transport/" AND NOT path IN_LIST transport_tests)
      list(APPEND violations "${path}: ${line}")
    endif()
  endforeach()
endforeach()
if(violations)
  list(JOIN violations "\n  " text)
  message(FATAL_ERROR "only src/transport/ (and its tests) may include hiredis or transport/ headers:\n  ${text}")
endif()
list(LENGTH sources count)
message(STATUS "${count} files checked: hiredis and transport/ stay inside the transport")
