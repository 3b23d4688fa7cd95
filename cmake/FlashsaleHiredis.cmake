# Finds hiredis and defines the imported target flashsale::hiredis.
#
# hiredis 1.x (its own install, Conan or vcpkg) ships a CMake package with the
# target hiredis::hiredis; Debian's 0.14.1 ships only a pkg-config file. Used
# by the build and, installed beside flashsaleConfig.cmake, by consumers.
if(TARGET flashsale::hiredis)
  return()
endif()

find_package(hiredis CONFIG QUIET)
if(TARGET hiredis::hiredis)
  add_library(flashsale::hiredis INTERFACE IMPORTED)
  set_target_properties(flashsale::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES hiredis::hiredis)
elseif(TARGET hiredis::hiredis_static)
  add_library(flashsale::hiredis INTERFACE IMPORTED)
  set_target_properties(flashsale::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES
                                                      hiredis::hiredis_static)
else()
  find_package(PkgConfig REQUIRED)
  pkg_check_modules(FLASHSALE_HIREDIS REQUIRED IMPORTED_TARGET hiredis)
  add_library(flashsale::hiredis INTERFACE IMPORTED)
  set_target_properties(flashsale::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES
                                                      PkgConfig::FLASHSALE_HIREDIS)
endif()
