#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: `nydusfs --help` and `nydusfs COMMAND --help` exit 0, print on
# stdout, and document every command and option with the fixed spellings
# (build [OPTIONS] -o OUTDIR SOURCE..., check [--blob-dir DIR] BOOTSTRAP,
# unpack [--blob-dir DIR] BOOTSTRAP DESTDIR, inspect [--json] BOOTSTRAP,
# mount [OPTIONS] BOOTSTRAP|REF MOUNTPOINT, umount MOUNTPOINT, profile
# [OPTIONS] MOUNTPOINT).
. "$(dirname "$0")/../lib.sh"
require_nydusfs

help_has()
{
	local what=$1 w

	shift
	for w in "$@"; do
		grep -qF -e "$w" "$NYD_OUT" || {
			cat "$NYD_OUT" >&2
			fail "'$what --help' does not mention $w"
		}
	done
}

nyd_ok --help
help_has nydusfs build check inspect unpack

nyd_ok build --help
help_has build OUTDIR SOURCE -o --chunk-size -c --compressor -z \
	--prefetch-list -p --chunk-dict -d --jobs -j none lz4 zstd oci:
nyd_ok check --help
help_has check --blob-dir BOOTSTRAP
nyd_ok unpack --help
help_has unpack --blob-dir BOOTSTRAP DESTDIR
nyd_ok inspect --help
help_has inspect --json BOOTSTRAP
nyd_ok mount --help
help_has mount "BOOTSTRAP MOUNTPOINT" "REF MOUNTPOINT" docker:// oci: \
	--tls-verify --platform --cert-dir --ca-file --creds --authfile \
	--dry-run --blob-dir /var/lib/nydusfs "plain"
nyd_ok umount --help
help_has umount MOUNTPOINT
nyd_ok profile --help
help_has profile MOUNTPOINT --output -o --bootstrap --reset --socket \
	--no-prefetch "PATH OFFSET"
nyd_ok --help
help_has nydusfs profile

for c in build check unpack inspect; do
	nyd_ok "$c" --help
	[ -s "$NYD_OUT" ] || fail "$c --help printed nothing on stdout"
done
