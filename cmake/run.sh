#!/usr/bin/env bash
# The two commands of the README.
#
#   bash cmake/run.sh demo [demo flags]   build and run the flash-sale demo
#   bash cmake/run.sh test                build and pass every test:
#                                         -Werror build, then ASan + UBSan build
#                                         (all but the stress races and packaging);
#                                         then build everything with clang++
#                                         (-Werror) and pass the unit tests
#
# Each step is a CMake workflow preset (CMakePresets.json): configure (its
# output shown, so a missing optional dependency is visible), build, test.
#
# Both first install what is missing from Debian's packages (apt-get as root,
# else through sudo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(build-essential cmake pkg-config python3 libhiredis-dev libfmt-dev catch2
          libbenchmark-dev libsqlite3-dev redis-server redis-tools clang postgresql libpq-dev
          libcpp-httplib-dev wrk prometheus)

install_missing_packages() {
  local missing=()
  for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
      missing+=("$package")
    fi
  done
  if [ ${#missing[@]} -eq 0 ]; then
    return
  fi
  echo "Installing: ${missing[*]}"
  local sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    sudo="sudo"
  fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}

export CMAKE_BUILD_PARALLEL_LEVEL="${CMAKE_BUILD_PARALLEL_LEVEL:-$(nproc 2>/dev/null || echo 2)}"

case "${1:-}" in
  demo)
    shift
    install_missing_packages
    cmake --preset release
    cmake --build --preset release
    exec build/release/examples/flash_sale_demo/flash_sale_demo "$@"
    ;;
  test)
    install_missing_packages
    cmake --workflow --preset ci
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
      UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
      cmake --workflow --preset asan
    cmake --workflow --preset clang
    ;;
  *)
    echo "usage: bash cmake/run.sh demo [flags] | test" >&2
    exit 2
    ;;
esac
