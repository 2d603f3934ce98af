#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 300
#
# make install: into a DESTDIR, every file lands where it should with its
# mode (the programs, mount.nydusfs -> nydusfs, nydusfsd.service, the
# example config, the man pages, nydusfsd.rst); a user's nydusfsd.conf is
# never touched; the installed programs run and the installed daemon reads
# the example config.  Then a real install under another PREFIX (with
# SYSCONFDIR and MOUNTHELPERDIR in the test's directory too): the unit
# names the installed paths, and `systemd-analyze verify` finds it clean,
# its man page included.
. "$(dirname "$0")/../lib.sh"

require make systemd-analyze man

# mode PATH: the octal mode, as install(1) set it
mode() { stat -c %a "$1"; }

install_to()
{
	make -s -C "$TOP" --no-print-directory install "$@" \
		>"$T/make.log" 2>&1 || {
		tail -n 20 "$T/make.log" >&2
		fail "make install $*"
	}
}

# ---- DESTDIR, default PREFIX ----
D=$T/dest
mkdir -p "$D/etc/nydusfs"
printf '[daemon]\nlog_level = debug\n# mine\n' >"$D/etc/nydusfs/nydusfsd.conf"
cp "$D/etc/nydusfs/nydusfsd.conf" "$T/user.conf"
install_to DESTDIR="$D"

for f in usr/local/bin/nydusfs usr/local/sbin/nydusfsd; do
	[ -f "$D/$f" ] && [ "$(mode "$D/$f")" = 755 ] || fail "$f: missing or not 0755"
done
for f in usr/local/lib/systemd/system/nydusfsd.service \
	 etc/nydusfs/nydusfsd.conf.example \
	 usr/local/share/man/man1/nydusfs.1 usr/local/share/man/man8/nydusfsd.8 \
	 usr/local/share/doc/nydusfs/nydusfsd.rst; do
	[ -f "$D/$f" ] && [ "$(mode "$D/$f")" = 644 ] || fail "$f: missing or not 0644"
done
[ -L "$D/sbin/mount.nydusfs" ] &&
	[ "$(readlink "$D/sbin/mount.nydusfs")" = /usr/local/bin/nydusfs ] ||
	fail "sbin/mount.nydusfs is not a link to /usr/local/bin/nydusfs"
cmp -s "$D/etc/nydusfs/nydusfsd.conf" "$T/user.conf" ||
	fail "make install changed the user's nydusfsd.conf"
cmp -s "$D/etc/nydusfs/nydusfsd.conf.example" "$TOP/daemon/nydusfsd.conf.example" ||
	fail "the example config differs from daemon/nydusfsd.conf.example"
unit=$D/usr/local/lib/systemd/system/nydusfsd.service
grep -qx 'ExecStart=/usr/local/sbin/nydusfsd --config /etc/nydusfs/nydusfsd.conf' "$unit" ||
	fail "the unit's ExecStart: $(grep ExecStart "$unit")"
if find "$D" ! -type d | grep -v -e "^$D/usr/local/" -e "^$D/etc/nydusfs/" \
	-e "^$D/sbin/" | grep .; then
	fail "files outside PREFIX, /etc/nydusfs and /sbin"
fi
info "DESTDIR: every file in place, the user's config untouched"

# the installed programs run; the daemon reads the installed example
"$D/usr/local/bin/nydusfs" --help >/dev/null || fail "installed nydusfs --help"
"$D/usr/local/sbin/nydusfsd" --version | grep -q 'protocol' ||
	fail "installed nydusfsd --version"
"$D/usr/local/sbin/nydusfsd" --check-config \
	--config "$D/etc/nydusfs/nydusfsd.conf.example" >/dev/null ||
	fail "the installed daemon refuses the installed example config"
for m in man1/nydusfs.1 man8/nydusfsd.8; do
	out=$(MANWIDTH=80 man --warnings -l "$D/usr/local/share/man/$m" 2>&1 >/dev/null)
	[ -z "$out" ] || fail "$m: $out"
done
info "installed programs run, man pages render without warnings"

# ---- a real install under another PREFIX: verify the unit as installed ----
P=$T/prefix
install_to PREFIX="$P" SYSCONFDIR="$P/etc" MOUNTHELPERDIR="$P/sbin"
unit=$P/lib/systemd/system/nydusfsd.service
[ -x "$P/sbin/nydusfsd" ] && [ -f "$P/etc/nydusfs/nydusfsd.conf.example" ] &&
	[ "$(readlink "$P/sbin/mount.nydusfs")" = "$P/bin/nydusfs" ] ||
	fail "PREFIX install incomplete"
# the link makes nydusfs act as mount(8)'s helper (which exits 32 here)
out=$("$P/sbin/mount.nydusfs" 2>&1) || true
grep -q '^usage: mount.nydusfs BOOTSTRAP|REF DIR' <<<"$out" ||
	fail "mount.nydusfs does not run as the mount helper: $out"
grep -qx "ExecStart=$P/sbin/nydusfsd --config $P/etc/nydusfs/nydusfsd.conf" "$unit" ||
	fail "PREFIX: the unit's ExecStart: $(grep ExecStart "$unit")"
grep -q "^Documentation=man:nydusfsd(8) file:$P/share/doc/nydusfs/nydusfsd.rst" "$unit" ||
	fail "PREFIX: the unit's Documentation: $(grep Documentation "$unit")"
out=$(MANPATH=$P/share/man systemd-analyze verify "$unit" 2>&1) ||
	fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
info "PREFIX install: systemd-analyze verify clean"

echo "PASS: $TEST_NAME"
