# flashsale_embed_lua(<name> SCRIPTS_DIR <dir> OUTPUT_DIR <dir>
#                     [NAMESPACE <ns>] [LIST_FUNCTION <fn>])
#
# Embeds every <SCRIPTS_DIR>/*.lua (a flat glob: add a file and it is
# embedded), with the fragments of lua/include/ expanded where a script says
# `--- @include "name"`, into <OUTPUT_DIR>/<name>.cpp and the header
# <OUTPUT_DIR>/lua/<name>.hpp (one constant per script, <NAMESPACE>::scripts::
# <script>). Sets <name>_SOURCES in the caller's scope to both files; add them
# to a target and <OUTPUT_DIR> to its include directories.
function(flashsale_embed_lua name)
  cmake_parse_arguments(EMBED "" "SCRIPTS_DIR;OUTPUT_DIR;NAMESPACE;LIST_FUNCTION" "" ${ARGN})
  if(NOT EMBED_NAMESPACE)
    set(EMBED_NAMESPACE "flashsale::detail")
  endif()
  if(NOT EMBED_LIST_FUNCTION)
    set(EMBED_LIST_FUNCTION "generated_scripts")
  endif()
  file(GLOB scripts CONFIGURE_DEPENDS ${EMBED_SCRIPTS_DIR}/*.lua)
  file(GLOB fragments CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/lua/include/*.lua)
  set(source ${EMBED_OUTPUT_DIR}/${name}.cpp)
  set(header ${EMBED_OUTPUT_DIR}/lua/${name}.hpp)
  add_custom_command(
    OUTPUT ${source} ${header}
    COMMAND ${CMAKE_COMMAND} "-DOUTPUT=${source}" "-DHEADER=${header}"
            "-DEXPANDED_DIR=${EMBED_OUTPUT_DIR}/lua"
            "-DINCLUDE_DIR=${PROJECT_SOURCE_DIR}/lua/include" "-DNAMESPACE=${EMBED_NAMESPACE}"
            "-DLIST_FUNCTION=${EMBED_LIST_FUNCTION}" "-DSCRIPTS=${scripts}" -P
            ${PROJECT_SOURCE_DIR}/cmake/EmbedLuaScripts.cmake
    DEPENDS ${scripts} ${fragments} ${PROJECT_SOURCE_DIR}/cmake/EmbedLuaScripts.cmake
    COMMENT "Embedding ${EMBED_SCRIPTS_DIR}/*.lua"
    VERBATIM)
  set(${name}_SOURCES ${source} ${header} PARENT_SCOPE)
endfunction()
