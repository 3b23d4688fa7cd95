# An overlay port that builds the checkout it lives in:
#   vcpkg install flashsale[outbox-sqlite] --overlay-ports=<checkout>/cmake/vcpkg/ports
# Set FLASHSALE_SOURCE_DIR to build another checkout.
if(DEFINED ENV{FLASHSALE_SOURCE_DIR})
  set(SOURCE_PATH "$ENV{FLASHSALE_SOURCE_DIR}")
else()
  get_filename_component(SOURCE_PATH "${CMAKE_CURRENT_LIST_DIR}/../../../.." ABSOLUTE)
endif()

vcpkg_check_features(OUT_FEATURE_OPTIONS feature_options
  FEATURES outbox-sqlite FLASHSALE_WITH_SQLITE)

vcpkg_cmake_configure(
  SOURCE_PATH "${SOURCE_PATH}"
  OPTIONS
    -DFLASHSALE_BUILD_TESTS=OFF
    -DFLASHSALE_BUILD_EXAMPLES=OFF
    -DFLASHSALE_BUILD_BENCH=OFF
    -DFLASHSALE_INSTALL=ON
    ${feature_options})
vcpkg_cmake_install()
vcpkg_cmake_config_fixup(CONFIG_PATH lib/cmake/flashsale)
vcpkg_fixup_pkgconfig()
file(REMOVE_RECURSE "${CURRENT_PACKAGES_DIR}/debug/include")
vcpkg_install_copyright(FILE_LIST "${SOURCE_PATH}/LICENSE")
file(INSTALL "${CMAKE_CURRENT_LIST_DIR}/usage" DESTINATION "${CURRENT_PACKAGES_DIR}/share/${PORT}")
