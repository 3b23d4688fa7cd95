# Script mode: cmake -DOUTPUT=<file.cpp> -DSCRIPTS=<a.lua;b.lua> -P EmbedLuaScripts.cmake
#
# Writes a C++ source that holds every script's exact bytes and its SHA1, so
# the library needs no file at run time and EVALSHA needs no SCRIPT LOAD first.
if(NOT OUTPUT OR NOT SCRIPTS)
  message(FATAL_ERROR "EmbedLuaScripts.cmake needs OUTPUT and SCRIPTS")
endif()

list(SORT SCRIPTS)
set(definitions "")
set(entries "")
foreach(path IN LISTS SCRIPTS)
  get_filename_component(name "${path}" NAME_WE)
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "script file name must be snake_case: ${path}")
  endif()
  file(READ "${path}" bytes HEX)
  file(SHA1 "${path}" sha1)
  string(LENGTH "${bytes}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${bytes}")
  string(APPEND definitions "const char ${name}_source[] = {${bytes} 0};\n")
  string(APPEND entries
         "      {\"${name}\", std::string_view(${name}_source, ${size}), \"${sha1}\"},\n")
endforeach()

set(content "// Generated from lua/*.lua by cmake/EmbedLuaScripts.cmake. Do not edit.
#include <string_view>
#include <vector>

#include \"flashsale/script.hpp\"

namespace flashsale::detail {
namespace {
${definitions}}  // namespace

const std::vector<Script>& generated_scripts() {
  static const std::vector<Script> scripts = {
${entries}  };
  return scripts;
}

}  // namespace flashsale::detail
")

# Rewrite only on change, so a build with no script edits recompiles nothing.
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" previous)
  if(previous STREQUAL content)
    return()
  endif()
endif()
file(WRITE "${OUTPUT}" "${content}")
