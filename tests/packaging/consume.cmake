# Script mode, run by CTest: builds and runs the consumer project one way.
#   -DROUTE=package|subdirectory|pkg-config -DWORK=<dir> -DSOURCE=<flashsale source>
#   -DPREFIX=<install prefix> -DVERSION=<x.y.z> -DCXX=<compiler> -DFLAGS=<extra flags>
file(REMOVE_RECURSE ${WORK})
file(MAKE_DIRECTORY ${WORK})

function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK} RESULT_VARIABLE result
                  OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "failed (${result}): ${ARGN}\n${output}")
  endif()
  message(STATUS "${output}")
endfunction()

set(consumer ${SOURCE}/tests/packaging/consumer)
if(ROUTE STREQUAL "pkg-config")
  file(GLOB_RECURSE pc_file ${PREFIX}/flashsale.pc)
  get_filename_component(pc_directory "${pc_file}" DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} "${pc_directory}")
  execute_process(COMMAND pkg-config --cflags --libs --static flashsale
                  OUTPUT_VARIABLE pc_flags RESULT_VARIABLE result ERROR_VARIABLE error
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "pkg-config failed: ${error}")
  endif()
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  separate_arguments(extra UNIX_COMMAND "${FLAGS}")
  run(${CXX} ${extra} -DFLASHSALE_EXPECTED_VERSION="${VERSION}" ${consumer}/main.cpp
      ${pc_flags} -o ${WORK}/consumer)
else()
  run(${CMAKE_COMMAND} -S ${consumer} -B ${WORK}/build -DFLASHSALE_CONSUME=${ROUTE}
      -DFLASHSALE_SOURCE_DIR=${SOURCE} -DFLASHSALE_EXPECTED_VERSION=${VERSION}
      -DCMAKE_PREFIX_PATH=${PREFIX} -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_CXX_FLAGS=${FLAGS}"
      "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}" -DCMAKE_BUILD_TYPE=Release)
  run(${CMAKE_COMMAND} --build ${WORK}/build -j 2)
  set(consumer_binary ${WORK}/build/consumer)
endif()
if(NOT consumer_binary)
  set(consumer_binary ${WORK}/consumer)
endif()
run(${consumer_binary})
