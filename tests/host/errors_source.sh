#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Proves: a source the builder cannot read gives a clear error naming it,
# exit 1, and removes the partial output (no bootstrap, no blob, no temp
# file): an unreadable file and an unreadable directory (the build runs as
# user nobody, since root reads anything), a missing source, a file that
# is not a tar, an OCI layout without the tag, and a later layer that is
# bad after a good one.
. "$(dirname "$0")/../lib.sh"
require setpriv
require_nydusfs

mkdir -p "$T/src/ok" "$T/src/private"
printf 'readable\n' >"$T/src/ok/file"
head -c 3000000 /dev/urandom >"$T/src/ok/big"
printf 'secret\n' >"$T/src/secret-file"
chmod 0600 "$T/src/secret-file"
chmod -R a+rX "$T/src/ok"
mkdir "$T/outs"
chmod 0777 "$T/outs"

# the build works as nobody when everything is readable
cp -a "$T/src/ok" "$T/src-ok"
nyd_as_expect 65534 0 build -o "$T/outs/good" "$T/src-ok"

nyd_as_expect 65534 1 build -o "$T/outs/o1" "$T/src"
assert_grep 'secret-file' "$NYD_ERR" "error for an unreadable file"
assert_no_output_left "$T/outs/o1"

chmod 0644 "$T/src/secret-file"
printf 'x\n' >"$T/src/private/inside"
chmod 0700 "$T/src/private"
nyd_as_expect 65534 1 build -o "$T/outs/o2" "$T/src"
assert_grep 'private' "$NYD_ERR" "error for an unreadable directory"
assert_no_output_left "$T/outs/o2"

nyd_expect 1 build -o "$T/o3" "$T/does-not-exist"
assert_grep 'does-not-exist' "$NYD_ERR" "error for a missing source"
assert_no_output_left "$T/o3"

head -c 100000 /dev/urandom >"$T/not-a-tar"
nyd_expect 1 build -o "$T/o4" "$T/not-a-tar"
assert_grep 'not-a-tar' "$NYD_ERR" "error for a file that is not a tar"
assert_no_output_left "$T/o4"

tar -C "$T/src-ok" -cf "$T/good.tar" .
build_ok "$T/good-tar" "$T/good.tar"
nyd_expect 1 build -o "$T/o5" "$T/good.tar" "$T/not-a-tar"
assert_grep 'not-a-tar' "$NYD_ERR" "error for a bad second layer"
assert_no_output_left "$T/o5"

mkdir -p "$T/layout/blobs"
printf '{"imageLayoutVersion":"1.0.0"}' >"$T/layout/oci-layout"
printf '{"schemaVersion":2,"manifests":[]}' >"$T/layout/index.json"
nyd_expect 1 build -o "$T/o6" "oci:$T/layout:nosuchtag"
assert_no_output_left "$T/o6"
