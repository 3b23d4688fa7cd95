# Script mode: -DSOURCE=<flashsale source> -DVERSION=<x.y.z>
# The vcpkg manifest must be valid JSON with the CMake version; so must the
# Conan recipe's version attribute.
file(READ ${SOURCE}/cmake/vcpkg/ports/flashsale/vcpkg.json manifest)
string(JSON port_version ERROR_VARIABLE json_error GET "${manifest}" version)
if(json_error)
  message(FATAL_ERROR "vcpkg.json: ${json_error}")
endif()
if(NOT port_version STREQUAL VERSION)
  message(FATAL_ERROR "vcpkg.json has version ${port_version}, CMake has ${VERSION}")
endif()
string(JSON feature ERROR_VARIABLE json_error GET "${manifest}" features outbox-sqlite description)
if(json_error)
  message(FATAL_ERROR "vcpkg.json lacks the outbox-sqlite feature: ${json_error}")
endif()

file(READ ${SOURCE}/conanfile.py recipe)
if(NOT recipe MATCHES "version = \"([0-9.]+)\"")
  message(FATAL_ERROR "conanfile.py has no version attribute")
endif()
if(NOT CMAKE_MATCH_1 STREQUAL VERSION)
  message(FATAL_ERROR "conanfile.py has version ${CMAKE_MATCH_1}, CMake has ${VERSION}")
endif()
message(STATUS "vcpkg port and Conan recipe at ${VERSION}")
