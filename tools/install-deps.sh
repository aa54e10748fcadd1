#!/bin/sh
# Installs everything libdkv needs to build, test and fuzz on Debian 12.
# Run as root (or it uses sudo). Safe to run again.
set -eu

PACKAGES="build-essential autoconf automake libtool pkg-config \
libevent-dev libleveldb-dev libmurmurhash-dev libbsd-dev check \
valgrind clang libclang-rt-14-dev groff-base man-db"

if [ "$(id -u)" -eq 0 ]; then
	SUDO=""
else
	SUDO="sudo"
fi

echo "libdkv: installing build and test dependencies (apt-get)..."
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
# shellcheck disable=SC2086
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $PACKAGES
echo "libdkv: dependencies installed."
