#!/bin/sh
# SPDX-License-Identifier: GPL-2.0
#
# Install the Debian 12 packages nydusfs needs to build and test.
# Idempotent: it installs only what is missing, and does nothing (quickly)
# when everything is present.  Needs root when something is missing.
#
# Why each package is here:
#   build-essential pkg-config    the C toolchain
#   libarchive-dev                 reading tar, tar+gzip, tar+zstd layers
#   libzstd-dev liblz4-dev         chunk compressors
#   libssl-dev                     sha256 (OpenSSL EVP), later TLS
#   libjansson-dev                 JSON: OCI index/manifest, inspect --json
#   libcurl4-openssl-dev           HTTP(S) to OCI registries: convert, nydusfsd
#   liburing-dev                   nydusfsd's event loop (device and cache I/O)
#   systemd                        systemd-analyze verify of nydusfsd.service
#   iproute2                       tc (netem) for nydusfsd's guest benchmark
#   clang libclang-rt-14-dev       libFuzzer and sanitizer runtimes
#   attr                           getfattr/setfattr in tests
#   zstd gzip                      making compressed test layers
#   umoci skopeo                   real OCI image layouts in tests; make demo
#                                  (skopeo pulls in the guest)
#   debootstrap                    a real OS tree for tests and benchmarks
#   erofs-utils                    mkfs.erofs, the peer in the benchmark
#   e2fsprogs cpio busybox-static qemu-system-x86 linux-headers-cloud-amd64
#   sparse                         kernel module build and QEMU guest tests
#   xz-utils                       tools/vm-run: Debian 6.12 kernel modules are .ko.xz
#   jq                             tests: read inspect --json, OCI manifests
#   python3                        tests: mktree, hostile tarballs, corrupt
#                                  bootstraps, the reverse-order tree copy
#   docker-registry                tests/registry: a real OCI registry on
#                                  127.0.0.1 (plain, TLS, Basic, token auth)
#   apache2-utils                  htpasswd -B: bcrypt entries for its Basic auth
#   openssl curl                   tests/registry: per-run CA and certificates,
#                                  token signing (RS256), HTTP checks
#   crun                           an OCI runtime: the guest test runs a
#                                  container over a nydusfs mount (ref_e2e.sh)
#   nginx-light                    tests/daemon/nginx.sh: nydusfsd behind a
#                                  redirecting registry front, an object store
#                                  and a caching pull-through mirror
#   gnuplot-nox                    make bench: the report's plots (PNG, no X)
#   pigz                           make bench (bench/hello.sh): the plain pull's
#                                  gzip decompressor, the fastest here and the
#                                  one containerd uses when it is installed
#
# qemu-system-x86 comes from bookworm-backports (QEMU 10) when Debian's
# archive has it: its TCG implements the x86 SHA extensions (SHA-NI), which
# every current x86 server has and QEMU 7.2 lacks.  Without them a guest
# hashes sha256 about 7x slower than with them, and the benchmarks would
# weigh every digest check (nydusfsd's, the kernel's and the plain pull's)
# like that.  The tests pass with either QEMU; when the backport cannot be
# had, the bookworm QEMU stays and a note says so.
set -eu

PACKAGES="build-essential pkg-config libarchive-dev libzstd-dev liblz4-dev
libssl-dev libjansson-dev libcurl4-openssl-dev liburing-dev
systemd clang libclang-rt-14-dev attr zstd gzip umoci skopeo
debootstrap erofs-utils e2fsprogs cpio busybox-static qemu-system-x86
linux-headers-cloud-amd64 sparse jq python3 xz-utils docker-registry
apache2-utils openssl curl iproute2 crun nginx-light gnuplot-nox pigz"

missing=""
for pkg in $PACKAGES; do
	status=$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)
	case "$status" in
	*" installed") ;;
	*) missing="$missing $pkg" ;;
	esac
done

QEMU_MIN=1:9
BACKPORTS=/etc/apt/sources.list.d/nydusfs-bookworm-backports.sources

qemu_recent() {
	v=$(dpkg-query -W -f='${Version}' qemu-system-x86 2>/dev/null) || return 1
	dpkg --compare-versions "$v" ge "$QEMU_MIN"
}

# qemu-system-x86 from bookworm-backports, unless a recent one is there
install_qemu() {
	qemu_recent && return 0
	if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
		cat >"$BACKPORTS" <<EOF
Types: deb
URIs: http://deb.debian.org/debian
Suites: bookworm-backports
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
	fi
	apt-get update -q
	apt-get install -y -q --no-install-recommends -t bookworm-backports \
		qemu-system-x86 ||
		echo "install-deps: note: no qemu-system-x86 from bookworm-backports; the bookworm QEMU (no SHA extensions in the guest) stays" >&2
}

if [ -z "$missing" ] && qemu_recent; then
	exit 0
fi

if [ "$(id -u)" != 0 ] && [ -z "$missing" ]; then
	echo "install-deps: note: qemu-system-x86 from bookworm-backports needs root; the installed QEMU stays" >&2
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "install-deps: missing packages:$missing" >&2
	echo "install-deps: run as root (or: apt-get install$missing)" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
if [ -n "$missing" ]; then
	echo "install-deps: installing$missing"
	apt-get update -q
	# shellcheck disable=SC2086
	apt-get install -y -q --no-install-recommends $missing
fi
install_qemu
