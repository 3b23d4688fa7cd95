# Conan 2 recipe. From the repository root:
#   conan create . -o "flashsale/*:with_outbox_sqlite=True" --build=missing
# builds the library with Conan's hiredis 1.x and fmt, then builds and runs
# tests/packaging/conan_test_package against the package.
import os

from conan import ConanFile
from conan.tools.cmake import CMake, CMakeDeps, CMakeToolchain, cmake_layout
from conan.tools.files import copy


class FlashsaleConan(ConanFile):
    name = "flashsale"
    version = "0.1.0"
    license = "MIT"
    description = ("Redis-backed flash-sale primitives: first-come coupons, stock holds, "
                   "sliding-window rankings, stream consumers and a transactional outbox")
    topics = ("redis", "flash-sale", "lua", "streams", "outbox")
    settings = "os", "arch", "compiler", "build_type"
    options = {"shared": [True, False], "fPIC": [True, False], "with_outbox_sqlite": [True, False]}
    default_options = {"shared": False, "fPIC": True, "with_outbox_sqlite": True}
    exports_sources = ("CMakeLists.txt", "LICENSE", "cmake/*", "include/*", "src/*", "lua/*",
                       "tools/*")
    test_package_folder = "tests/packaging/conan_test_package"

    def config_options(self):
        if self.settings.os == "Windows":
            del self.options.fPIC

    def configure(self):
        if self.options.shared:
            self.options.rm_safe("fPIC")

    def layout(self):
        cmake_layout(self)

    def requirements(self):
        self.requires("hiredis/[>=1.0 <2]")
        self.requires("fmt/[>=9 <13]")
        if self.options.with_outbox_sqlite:
            self.requires("sqlite3/[>=3.35 <4]")

    def generate(self):
        # CMakeToolchain turns shared into BUILD_SHARED_LIBS and fPIC into
        # CMAKE_POSITION_INDEPENDENT_CODE, which the build honours.
        toolchain = CMakeToolchain(self)
        toolchain.variables["FLASHSALE_BUILD_TESTS"] = False
        toolchain.variables["FLASHSALE_BUILD_EXAMPLES"] = False
        toolchain.variables["FLASHSALE_BUILD_BENCH"] = False
        toolchain.variables["FLASHSALE_INSTALL"] = True
        toolchain.variables["FLASHSALE_WITH_SQLITE"] = "ON" if self.options.with_outbox_sqlite else "OFF"
        toolchain.generate()
        CMakeDeps(self).generate()

    def build(self):
        cmake = CMake(self)
        cmake.configure()
        cmake.build()

    def package(self):
        copy(self, "LICENSE", src=self.source_folder, dst=os.path.join(self.package_folder, "licenses"))
        CMake(self).install()

    def package_info(self):
        # Consumers use the package's own flashsaleConfig.cmake, which finds
        # hiredis and fmt the same way the build did.
        self.cpp_info.set_property("cmake_find_mode", "none")
        self.cpp_info.builddirs.append(os.path.join("lib", "cmake", "flashsale"))
        self.cpp_info.set_property("pkg_config_name", "flashsale")
        self.cpp_info.libs = ["flashsale"]
        if self.options.with_outbox_sqlite:
            self.cpp_info.libs.insert(0, "flashsale_outbox_sqlite")
