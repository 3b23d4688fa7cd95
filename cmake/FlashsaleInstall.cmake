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

get_target_property(flashsale_library_type flashsale TYPE)
if(flashsale_library_type STREQUAL "STATIC_LIBRARY")
  set(FLASHSALE_PC_PRIVATE_REQUIRES "Requires.private: hiredis fmt")
else()
  set(FLASHSALE_PC_PRIVATE_REQUIRES "Requires.private: hiredis")
endif()
# Relocatable: the prefix is found relative to the .pc file itself.
file(RELATIVE_PATH FLASHSALE_PC_PREFIX_FROM_PCFILEDIR /root/${CMAKE_INSTALL_LIBDIR}/pkgconfig /root)
configure_file(${PROJECT_SOURCE_DIR}/cmake/flashsale.pc.in ${PROJECT_BINARY_DIR}/flashsale.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/flashsale.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
