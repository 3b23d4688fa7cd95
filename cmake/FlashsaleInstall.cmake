# Installs the library, its headers, the CMake package (lib/cmake/flashsale)
# and flashsale.pc; exports the build tree as well.
include(CMakePackageConfigHelpers)

set(flashsale_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/flashsale)
set(flashsale_install_targets flashsale)
if(FLASHSALE_HAS_SQLITE)
  list(APPEND flashsale_install_targets flashsale_outbox_sqlite)
endif()
if(FLASHSALE_HAS_POSTGRES)
  list(APPEND flashsale_install_targets flashsale_outbox_postgres)
endif()

install(TARGETS ${flashsale_install_targets} EXPORT flashsaleTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/flashsale DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(EXPORT flashsaleTargets NAMESPACE flashsale:: DESTINATION ${flashsale_cmake_dir})
export(EXPORT flashsaleTargets NAMESPACE flashsale::
       FILE ${PROJECT_BINARY_DIR}/flashsaleTargets.cmake)

configure_package_config_file(${PROJECT_SOURCE_DIR}/cmake/flashsaleConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/flashsaleConfig.cmake
                              INSTALL_DESTINATION ${flashsale_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/flashsaleConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/flashsaleConfig.cmake
              ${PROJECT_BINARY_DIR}/flashsaleConfigVersion.cmake
              ${PROJECT_SOURCE_DIR}/cmake/FlashsaleHiredis.cmake
        DESTINATION ${flashsale_cmake_dir})
configure_file(${PROJECT_SOURCE_DIR}/cmake/FlashsaleHiredis.cmake
               ${PROJECT_BINARY_DIR}/FlashsaleHiredis.cmake COPYONLY)

# The dependency versions the library is compiled against, for the installed
# package to require: hiredis by major.minor (its reply layout changes between
# minor versions), fmt by major (its ABI changes with every major version).
string(REGEX MATCH "^([0-9]+)\\.([0-9]+)" flashsale_hiredis_abi "${FLASHSALE_HIREDIS_VERSION}")
math(EXPR flashsale_hiredis_next_minor "${CMAKE_MATCH_2} + 1")
set(flashsale_hiredis_below "${CMAKE_MATCH_1}.${flashsale_hiredis_next_minor}")
string(REGEX MATCH "^[0-9]+" flashsale_fmt_major "${fmt_VERSION}")
math(EXPR flashsale_fmt_next_major "${flashsale_fmt_major} + 1")
set(FLASHSALE_PC_PRIVATE_REQUIRES
    "Requires.private: hiredis >= ${flashsale_hiredis_abi}, hiredis < ${flashsale_hiredis_below}, fmt >= ${flashsale_fmt_major}, fmt < ${flashsale_fmt_next_major}")
message(STATUS "flashsale: built against hiredis ${FLASHSALE_HIREDIS_VERSION} (through "
               "${FLASHSALE_HIREDIS_FLAVOUR} at ${FLASHSALE_HIREDIS_LOCATION}) and fmt ${fmt_VERSION}; "
               "the installed package requires hiredis ${flashsale_hiredis_abi}.x and fmt ${flashsale_fmt_major}.x")

# Relocatable: the prefix is found relative to the .pc file itself
# (lib/pkgconfig -> ../..), unless the install directories are absolute.
set(flashsale_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
  set(FLASHSALE_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
  set(FLASHSALE_PC_LIBDIR "${CMAKE_INSTALL_LIBDIR}")
else()
  string(REGEX REPLACE "[^/]+" ".." flashsale_pc_up "${flashsale_pc_dir}")
  set(FLASHSALE_PC_PREFIX "\${pcfiledir}/${flashsale_pc_up}")
  set(FLASHSALE_PC_LIBDIR "\${prefix}/${CMAKE_INSTALL_LIBDIR}")
endif()
if(IS_ABSOLUTE "${CMAKE_INSTALL_INCLUDEDIR}")
  set(FLASHSALE_PC_INCLUDEDIR "${CMAKE_INSTALL_INCLUDEDIR}")
else()
  set(FLASHSALE_PC_INCLUDEDIR "\${prefix}/${CMAKE_INSTALL_INCLUDEDIR}")
endif()
configure_file(${PROJECT_SOURCE_DIR}/cmake/flashsale.pc.in ${PROJECT_BINARY_DIR}/flashsale.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/flashsale.pc DESTINATION ${flashsale_pc_dir})
