#!/usr/bin/env bash
# Installs the system packages Braid needs to build and test: libclang (bindgen,
# for the RocksDB bindings), Debian's RocksDB library, and Chromium with its
# WebDriver (the web console's tests drive a real browser). Safe to run
# repeatedly: it does nothing when the packages are already present.
set -euo pipefail

packages=(libclang-dev librocksdb-dev pkg-config)
# Test tooling only (the console's browser tests), never part of a build.
test_packages=(chromium chromium-driver)
missing=()
for package in "${packages[@]}" "${test_packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if [ "${#missing[@]}" -gt 0 ]; then
    echo "bootstrap: installing ${missing[*]}" >&2
    sudo_cmd=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo_cmd=(sudo)
    fi
    export DEBIAN_FRONTEND=noninteractive
    "${sudo_cmd[@]}" apt-get update -q
    "${sudo_cmd[@]}" apt-get install -y -q "${missing[@]}"
fi
