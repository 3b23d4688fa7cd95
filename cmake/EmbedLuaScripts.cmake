# Script mode:
#   cmake -DOUTPUT=<file.cpp> -DHEADER=<file.hpp> -DEXPANDED_DIR=<dir>
#         -DINCLUDE_DIR=<lua/include> -DSCRIPTS=<a.lua;b.lua> -P EmbedLuaScripts.cmake
#
# Expands every `--- @include "name"` line of a script with lua/include/name.lua
# (the BullMQ convention; fragments are not nested), then writes
#  - OUTPUT, a C++ source that holds every expanded script's exact bytes and
#    its SHA1, so the library needs no file at run time and EVALSHA needs no
#    SCRIPT LOAD first;
#  - HEADER, one constant per script (flashsale::detail::scripts::<name>), so
#    a misspelt script name fails to compile;
#  - EXPANDED_DIR/<name>.lua, the bytes sent to Redis (for reading and tests).
foreach(variable OUTPUT HEADER EXPANDED_DIR INCLUDE_DIR SCRIPTS)
  if(NOT ${variable})
    message(FATAL_ERROR "EmbedLuaScripts.cmake needs ${variable}")
  endif()
endforeach()

# Writes `content` to `path` only when it differs, so a build with no script
# edits recompiles nothing.
function(write_if_changed path content)
  if(EXISTS "${path}")
    file(READ "${path}" previous)
    if(previous STREQUAL content)
      return()
    endif()
  endif()
  file(WRITE "${path}" "${content}")
endfunction()

list(SORT SCRIPTS)
set(definitions "")
set(declarations "")
set(entries "")
foreach(path IN LISTS SCRIPTS)
  get_filename_component(name "${path}" NAME_WE)
  if(NOT name MATCHES "^[a-z][a-z0-9_]*$")
    message(FATAL_ERROR "script file name must be snake_case: ${path}")
  endif()
  file(READ "${path}" text)
  string(REGEX MATCHALL "(^|\n)--- @include \"[^\"\n]*\"" includes "${text}")
  foreach(directive IN LISTS includes)
    string(REGEX REPLACE "^\n" "" directive "${directive}")
    string(REGEX REPLACE "^--- @include \"([^\"]*)\"$" "\\1" fragment "${directive}")
    if(NOT fragment MATCHES "^[a-z][a-z0-9_]*$" OR NOT EXISTS "${INCLUDE_DIR}/${fragment}.lua")
      message(FATAL_ERROR "${path}: no fragment ${INCLUDE_DIR}/${fragment}.lua")
    endif()
    file(READ "${INCLUDE_DIR}/${fragment}.lua" fragment_text)
    if(fragment_text MATCHES "--- @include")
      message(FATAL_ERROR "${INCLUDE_DIR}/${fragment}.lua: fragments do not include others")
    endif()
    string(REGEX REPLACE "\n$" "" fragment_text "${fragment_text}")
    string(REPLACE "${directive}" "${fragment_text}" text "${text}")
  endforeach()
  set(expanded "${EXPANDED_DIR}/${name}.lua")
  write_if_changed("${expanded}" "${text}")
  file(READ "${expanded}" bytes HEX)
  file(SHA1 "${expanded}" sha1)
  string(LENGTH "${bytes}" hex_length)
  math(EXPR size "${hex_length} / 2")
  string(REGEX REPLACE "([0-9a-f][0-9a-f])" "'\\\\x\\1'," bytes "${bytes}")
  string(APPEND definitions "const char ${name}_source[] = {${bytes} 0};\n")
  string(APPEND declarations "extern const Script ${name};\n")
  string(APPEND entries
         "const Script ${name}{\"${name}\", std::string_view(${name}_source, ${size}), \"${sha1}\"};\n")
  list(APPEND names ${name})
endforeach()

set(list_entries "")
foreach(name IN LISTS names)
  string(APPEND list_entries "      scripts::${name},\n")
endforeach()

write_if_changed("${OUTPUT}" "// Generated from lua/*.lua by cmake/EmbedLuaScripts.cmake. Do not edit.
#include <string_view>
#include <vector>

#include \"flashsale/script.hpp\"
#include \"lua/scripts.hpp\"

namespace flashsale::detail {
namespace {
${definitions}}  // namespace

namespace scripts {
${entries}}  // namespace scripts

const std::vector<Script>& generated_scripts() {
  static const std::vector<Script> all = {
${list_entries}  };
  return all;
}

}  // namespace flashsale::detail
")

write_if_changed("${HEADER}" "// Generated from lua/*.lua by cmake/EmbedLuaScripts.cmake. Do not edit.
// One constant per bundled script: a misspelt name fails to compile.
#pragma once

#include \"flashsale/script.hpp\"

namespace flashsale::detail::scripts {
${declarations}}  // namespace flashsale::detail::scripts
")
