# Script mode, run by CTest: builds the consumer project one way and runs it
# against a private redis-server, or expects the build to be refused.
#   -DROUTE=package|subdirectory|pkg-config -DWORK=<dir> -DSOURCE=<flashsale source>
#   -DPREFIX=<install prefix> -DVERSION=<x.y.z> -DCXX=<compiler> -DFLAGS=<extra flags>
#   -DPREFIX_PATH=<the build's CMAKE_PREFIX_PATH, '|'-separated>
#   -DPKG_CONFIG_PATH=<the build's PKG_CONFIG_PATH> -DREDIS_SERVER=<redis-server>
#   -DFAKE=<what to fake, see below> -DEXPECT_FAILURE=<regex the refusal must match>
#
# The consumer sees the dependency prefixes the build saw: the build's
# CMAKE_PREFIX_PATH and PKG_CONFIG_PATH, after the install prefix.
#
# FAKE makes the consumer's configuration disagree with what the library was
# built against (only Debian's hiredis 0.14.1 and fmt 9 are installed here, so
# the other versions are fake package files, found first):
#   hiredis-1.3     a hiredis.pc reporting 1.3.1
#   fmt-12          an fmt CMake package reporting 12.0.0
#   built-on-1.3    a copy of the installed package whose records say it was
#                   built on hiredis 1.3.1 through hiredis's CMake package (as
#                   Conan or vcpkg would), consumed where only 0.14.1 exists
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

# Runs the step that must refuse the mismatch; passes only when it fails with
# output matching EXPECT_FAILURE.
function(expect_refusal)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY ${WORK} RESULT_VARIABLE result
                  OUTPUT_VARIABLE output ERROR_VARIABLE output)
  if(result EQUAL 0)
    message(FATAL_ERROR "expected a refusal matching '${EXPECT_FAILURE}', but it succeeded: "
                        "${ARGN}\n${output}")
  endif()
  # CMake wraps long messages: compare with runs of white space as one space.
  string(REGEX REPLACE "[ \t\r\n]+" " " flat "${output}")
  if(NOT flat MATCHES "${EXPECT_FAILURE}")
    message(FATAL_ERROR "it failed, but without the message '${EXPECT_FAILURE}':\n${output}")
  endif()
  message(STATUS "refused as expected (${result}):\n${output}")
endfunction()

string(REPLACE "|" ";" prefix_path "${PREFIX_PATH}")
set(pkg_config_path "${PKG_CONFIG_PATH}")
set(prefix ${PREFIX})

if(FAKE STREQUAL "hiredis-1.3")
  file(WRITE ${WORK}/fake/lib/pkgconfig/hiredis.pc
       "prefix=${WORK}/fake\nlibdir=\${prefix}/lib\nincludedir=\${prefix}/include\n\n"
       "Name: hiredis\nDescription: a fake hiredis 1.3.1\nVersion: 1.3.1\n"
       "Libs: -L\${libdir} -lhiredis\nCflags: -I\${includedir}\n")
  set(pkg_config_path "${WORK}/fake/lib/pkgconfig:${pkg_config_path}")
elseif(FAKE STREQUAL "fmt-12")
  file(WRITE ${WORK}/fake/lib/cmake/fmt/fmt-config.cmake "# a fake fmt 12.0.0, no targets\n")
  file(WRITE ${WORK}/fake/lib/cmake/fmt/fmt-config-version.cmake
       "set(PACKAGE_VERSION 12.0.0)\nset(PACKAGE_VERSION_COMPATIBLE TRUE)\n")
  list(PREPEND prefix_path ${WORK}/fake)
elseif(FAKE STREQUAL "built-on-1.3")
  set(prefix ${WORK}/prefix)
  file(COPY ${PREFIX}/ DESTINATION ${prefix})
  file(GLOB_RECURSE config ${prefix}/flashsaleConfig.cmake)
  file(READ ${config} text)
  string(REGEX REPLACE "FLASHSALE_HIREDIS_REQUIRED_FLAVOUR \"[^\"]*\""
                       "FLASHSALE_HIREDIS_REQUIRED_FLAVOUR \"cmake\"" text "${text}")
  string(REGEX REPLACE "FLASHSALE_HIREDIS_REQUIRED_VERSION \"[^\"]*\""
                       "FLASHSALE_HIREDIS_REQUIRED_VERSION \"1.3.1\"" text "${text}")
  file(WRITE ${config} "${text}")
  file(GLOB_RECURSE pc ${prefix}/flashsale.pc)
  file(READ ${pc} text)
  string(REGEX REPLACE "hiredis >= [0-9.]+, hiredis < [0-9.]+" "hiredis >= 1.3, hiredis < 1.4"
                       text "${text}")
  file(WRITE ${pc} "${text}")
elseif(FAKE)
  message(FATAL_ERROR "unknown FAKE=${FAKE}")
endif()
set(ENV{PKG_CONFIG_PATH} "${pkg_config_path}")

set(consumer ${SOURCE}/tests/packaging/consumer)
if(ROUTE STREQUAL "pkg-config")
  file(GLOB_RECURSE pc_file ${prefix}/flashsale.pc)
  get_filename_component(pc_directory "${pc_file}" DIRECTORY)
  set(ENV{PKG_CONFIG_PATH} "${pc_directory}:${pkg_config_path}")
  set(pkg_config pkg-config --cflags --libs --static flashsale)
  if(EXPECT_FAILURE)
    expect_refusal(${pkg_config})
    return()
  endif()
  execute_process(COMMAND ${pkg_config} OUTPUT_VARIABLE pc_flags RESULT_VARIABLE result
                  ERROR_VARIABLE error OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT result EQUAL 0)
    message(FATAL_ERROR "pkg-config failed: ${error}")
  endif()
  # A shared libflashsale is found at run time through the rpath.
  execute_process(COMMAND pkg-config --variable=libdir flashsale OUTPUT_VARIABLE libdir
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  separate_arguments(pc_flags UNIX_COMMAND "${pc_flags}")
  separate_arguments(extra UNIX_COMMAND "${FLAGS}")
  run(${CXX} ${extra} -DFLASHSALE_EXPECTED_VERSION="${VERSION}" ${consumer}/main.cpp
      ${pc_flags} -Wl,-rpath,${libdir} -o ${WORK}/consumer)
  set(consumer_binary ${WORK}/consumer)
else()
  # The install prefix first, then the build's prefixes (the environment
  # variable carries the list to the consumer's configure).
  string(REPLACE ";" ":" prefix_path "${prefix};${prefix_path}")
  set(ENV{CMAKE_PREFIX_PATH} "${prefix_path}")
  set(configure
      ${CMAKE_COMMAND} -S ${consumer} -B ${WORK}/build -DFLASHSALE_CONSUME=${ROUTE}
      -DFLASHSALE_SOURCE_DIR=${SOURCE} -DFLASHSALE_EXPECTED_VERSION=${VERSION}
      -DCMAKE_CXX_COMPILER=${CXX} "-DCMAKE_CXX_FLAGS=${FLAGS}"
      "-DCMAKE_EXE_LINKER_FLAGS=${FLAGS}" -DCMAKE_BUILD_TYPE=Release)
  if(EXPECT_FAILURE)
    expect_refusal(${configure})
    return()
  endif()
  run(${configure})
  run(${CMAKE_COMMAND} --build ${WORK}/build -j 2)
  set(consumer_binary ${WORK}/build/consumer)
endif()

# A private redis-server on a unix socket in the work directory (no TCP port),
# always stopped.
set(socket ${WORK}/redis.sock)
execute_process(COMMAND ${REDIS_SERVER} --port 0 --unixsocket ${socket} --dir ${WORK}
                        --pidfile ${WORK}/redis.pid --daemonize yes --save "" --appendonly no
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "cannot start ${REDIS_SERVER}: ${output}")
endif()
foreach(attempt RANGE 100)
  if(EXISTS ${socket} AND EXISTS ${WORK}/redis.pid)
    break()
  endif()
  execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 0.05)
endforeach()
execute_process(COMMAND ${consumer_binary} ${socket} WORKING_DIRECTORY ${WORK} TIMEOUT 120
                RESULT_VARIABLE result OUTPUT_VARIABLE output ERROR_VARIABLE output)
if(EXISTS ${WORK}/redis.pid)
  file(READ ${WORK}/redis.pid pid)
  string(STRIP "${pid}" pid)
  execute_process(COMMAND kill ${pid})
  foreach(attempt RANGE 100)
    execute_process(COMMAND kill -0 ${pid} RESULT_VARIABLE alive OUTPUT_QUIET ERROR_QUIET)
    if(NOT alive EQUAL 0)
      break()
    endif()
    execute_process(COMMAND ${CMAKE_COMMAND} -E sleep 0.05)
  endforeach()
  if(alive EQUAL 0)
    execute_process(COMMAND kill -9 ${pid})
  endif()
endif()
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${consumer_binary} ${socket} failed (${result}):\n${output}")
endif()
message(STATUS "${output}")
