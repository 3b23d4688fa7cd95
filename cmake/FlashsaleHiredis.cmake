# Finds hiredis and defines the imported target flashsale::hiredis.
#
# hiredis 1.x (its own install, Conan or vcpkg) ships a CMake package with the
# target hiredis::hiredis; Debian's 0.14.1 ships only a pkg-config file.
#
# Building flashsale: takes the CMake package if there is one, else pkg-config,
# and sets FLASHSALE_HIREDIS_FLAVOUR ("cmake" or "pkg-config"),
# FLASHSALE_HIREDIS_VERSION and FLASHSALE_HIREDIS_LOCATION, which the installed
# package records.
#
# Consuming the installed package (flashsaleConfig.cmake sets
# FLASHSALE_HIREDIS_REQUIRED_FLAVOUR and FLASHSALE_HIREDIS_REQUIRED_VERSION):
# looks for hiredis the way the library was built and sets
# FLASHSALE_HIREDIS_ERROR (the config then reports the package not found)
# unless it finds the same major.minor version. hiredis's reply structures
# differ between versions, so a library compiled against one and linked with
# another crashes at run time; this makes it a configure error instead.
if(TARGET flashsale::hiredis)
  return()
endif()

set(_flashsale_hiredis_flavour "")
set(_flashsale_hiredis_version "")
set(_flashsale_hiredis_location "")

if(NOT FLASHSALE_HIREDIS_REQUIRED_FLAVOUR STREQUAL "pkg-config")
  find_package(hiredis CONFIG QUIET)
  foreach(_flashsale_hiredis_target hiredis::hiredis hiredis::hiredis_static)
    if(TARGET ${_flashsale_hiredis_target})
      add_library(flashsale::hiredis INTERFACE IMPORTED)
      set_target_properties(flashsale::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES
                                                          ${_flashsale_hiredis_target})
      set(_flashsale_hiredis_flavour cmake)
      set(_flashsale_hiredis_version "${hiredis_VERSION}")
      set(_flashsale_hiredis_location "${hiredis_DIR}")
      if(NOT _flashsale_hiredis_version)
        # A package without a version file: read the version from hiredis.h.
        get_target_property(_flashsale_hiredis_includes ${_flashsale_hiredis_target}
                            INTERFACE_INCLUDE_DIRECTORIES)
        foreach(_flashsale_hiredis_dir IN LISTS _flashsale_hiredis_includes)
          foreach(_flashsale_hiredis_header ${_flashsale_hiredis_dir}/hiredis/hiredis.h
                                            ${_flashsale_hiredis_dir}/hiredis.h)
            if(NOT _flashsale_hiredis_version AND EXISTS ${_flashsale_hiredis_header})
              file(STRINGS ${_flashsale_hiredis_header} _flashsale_hiredis_defines
                   REGEX "^#define HIREDIS_(MAJOR|MINOR|PATCH) [0-9]+")
              string(REGEX REPLACE "[^;]*HIREDIS_[A-Z]+ ([0-9]+)" "\\1"
                                   _flashsale_hiredis_defines "${_flashsale_hiredis_defines}")
              string(REPLACE ";" "." _flashsale_hiredis_version "${_flashsale_hiredis_defines}")
            endif()
          endforeach()
        endforeach()
      endif()
      break()
    endif()
  endforeach()
endif()

if(NOT _flashsale_hiredis_flavour AND NOT FLASHSALE_HIREDIS_REQUIRED_FLAVOUR STREQUAL "cmake")
  find_package(PkgConfig QUIET)
  if(PKG_CONFIG_FOUND)
    pkg_check_modules(FLASHSALE_HIREDIS QUIET IMPORTED_TARGET hiredis)
  endif()
  if(TARGET PkgConfig::FLASHSALE_HIREDIS)
    add_library(flashsale::hiredis INTERFACE IMPORTED)
    set_target_properties(flashsale::hiredis PROPERTIES INTERFACE_LINK_LIBRARIES
                                                        PkgConfig::FLASHSALE_HIREDIS)
    set(_flashsale_hiredis_flavour pkg-config)
    set(_flashsale_hiredis_version "${FLASHSALE_HIREDIS_VERSION}")
    set(_flashsale_hiredis_location "${FLASHSALE_HIREDIS_PREFIX}")
  endif()
endif()

set(FLASHSALE_HIREDIS_ERROR "")
if(FLASHSALE_HIREDIS_REQUIRED_VERSION)
  # Consumer side: the hiredis the installed library was compiled against.
  string(CONCAT _flashsale_hiredis_wanted "hiredis ${FLASHSALE_HIREDIS_REQUIRED_VERSION} (through "
                "${FLASHSALE_HIREDIS_REQUIRED_FLAVOUR} at ${FLASHSALE_HIREDIS_REQUIRED_LOCATION})")
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" _flashsale_hiredis_wanted_abi
               "${FLASHSALE_HIREDIS_REQUIRED_VERSION}")
  string(REGEX MATCH "^[0-9]+\\.[0-9]+" _flashsale_hiredis_found_abi "${_flashsale_hiredis_version}")
  if(NOT _flashsale_hiredis_flavour)
    if(FLASHSALE_HIREDIS_REQUIRED_FLAVOUR STREQUAL "cmake")
      set(_flashsale_hiredis_how "no hiredis CMake package (hiredis-config.cmake) is found")
    else()
      set(_flashsale_hiredis_how "pkg-config finds no hiredis.pc")
    endif()
    string(CONCAT FLASHSALE_HIREDIS_ERROR
                  "flashsale was built against ${_flashsale_hiredis_wanted}, but "
                  "${_flashsale_hiredis_how}. Make that hiredis findable (CMAKE_PREFIX_PATH, "
                  "PKG_CONFIG_PATH).")
  elseif(NOT _flashsale_hiredis_found_abi STREQUAL _flashsale_hiredis_wanted_abi)
    string(CONCAT FLASHSALE_HIREDIS_ERROR
            "flashsale was built against ${_flashsale_hiredis_wanted}, but this "
            "configuration finds hiredis ${_flashsale_hiredis_version} at "
            "${_flashsale_hiredis_location}. hiredis's reply layout differs between versions: "
            "linking that one would crash at run time. Put hiredis "
            "${_flashsale_hiredis_wanted_abi}.x first in CMAKE_PREFIX_PATH / PKG_CONFIG_PATH, "
            "or rebuild flashsale against hiredis ${_flashsale_hiredis_version}.")
  endif()
elseif(NOT _flashsale_hiredis_flavour)
  message(FATAL_ERROR "flashsale needs hiredis: neither a hiredis CMake package "
                      "(hiredis-config.cmake, hiredis 1.x) nor pkg-config's hiredis.pc was found.")
elseif(NOT _flashsale_hiredis_version MATCHES "^[0-9]+\\.[0-9]+")
  message(FATAL_ERROR "hiredis found through ${_flashsale_hiredis_flavour} at "
                      "${_flashsale_hiredis_location} reports no version; the installed package "
                      "must record the version it is built against.")
endif()

set(FLASHSALE_HIREDIS_FLAVOUR "${_flashsale_hiredis_flavour}")
set(FLASHSALE_HIREDIS_VERSION "${_flashsale_hiredis_version}")
set(FLASHSALE_HIREDIS_LOCATION "${_flashsale_hiredis_location}")
