# Script mode: -DSOURCE=<flashsale source>
# The README's first C++ block must be examples/quickstart.cpp without its
# first comment line, so the example the README shows is one the build compiles.
file(READ ${SOURCE}/README.md readme)
string(FIND "${readme}" "```cpp\n" start)
if(start EQUAL -1)
  message(FATAL_ERROR "README.md has no ```cpp block")
endif()
math(EXPR start "${start} + 7")
string(SUBSTRING "${readme}" ${start} -1 rest)
string(FIND "${rest}" "```" end)
string(SUBSTRING "${rest}" 0 ${end} block)
file(READ ${SOURCE}/examples/quickstart.cpp example)
string(REGEX REPLACE "^//[^\n]*\n" "" example "${example}")
if(NOT block STREQUAL example)
  message(FATAL_ERROR "README's first example differs from examples/quickstart.cpp:\n${block}")
endif()
message(STATUS "README's first example is examples/quickstart.cpp")
