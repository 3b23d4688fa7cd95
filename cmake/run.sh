#!/usr/bin/env bash
# The two commands of the README.
#
#   bash cmake/run.sh demo [demo flags]   build and run the flash-sale demo
#   bash cmake/run.sh test                build and pass every test, twice:
#                                         -Werror build, then ASan + UBSan build
#
# Both first install what is missing from Debian's packages (apt-get as root,
# else through sudo).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

packages=(build-essential cmake pkg-config python3 libhiredis-dev libfmt-dev catch2
          libbenchmark-dev libsqlite3-dev redis-server redis-tools libcpp-httplib-dev
          prometheus)

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

jobs="$(nproc 2>/dev/null || echo 2)"

build() {
  cmake --preset "$1" >/dev/null
  cmake --build --preset "$1" -j "$jobs"
}

case "${1:-}" in
  demo)
    shift
    install_missing_packages
    build release
    exec build/release/examples/flash_sale_demo/flash_sale_demo "$@"
    ;;
  test)
    install_missing_packages
    build ci
    ctest --preset ci
    build asan
    ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" \
      UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}" \
      ctest --preset asan
    ;;
  *)
    echo "usage: bash cmake/run.sh demo [flags] | test" >&2
    exit 2
    ;;
esac
