# SPDX-License-Identifier: GPL-2.0
#
# nydusfs top-level Makefile.
#
#   make            install missing Debian packages, build every program
#                   into build/bin/ (the sanitizer build into build/san/bin/)
#   make check      run every test (tests/run.sh); ends "N passed, N failed"
#   make demo       nydusfs end to end in one command (scripts/demo.sh):
#                   IMAGE=REF, CMD=COMMAND, WHERE=auto|host|guest
#   make bench      run the benchmarks (bench/run.sh, ~20 min; not part of
#                   make check); report in bench/results/REPORT.md
#   make install    install the programs under $(PREFIX) (default /usr/local),
#                   nydusfsd's unit, example config, mount.nydusfs, man pages
#                   (DESTDIR honoured)
#   make modules    build kernel/nydusfs.ko (the top-level Kbuild)

PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
MANDIR ?= $(PREFIX)/share/man
DOCDIR ?= $(PREFIX)/share/doc/nydusfs
# systemd reads units from /usr/local/lib/systemd/system and /lib/systemd/system
UNITDIR ?= $(PREFIX)/lib/systemd/system
# mount(8) looks for mount.TYPE helpers in /sbin only
MOUNTHELPERDIR ?= /sbin
BUILD ?= build
CC ?= gcc
PKGS := libarchive libzstd liblz4 libcrypto jansson libcurl

WARN := -Wall -Wextra -Werror -Wno-missing-field-initializers
CFLAGS ?= -O2 -g
ALL_CFLAGS = $(CFLAGS) $(EXTRA_CFLAGS) $(WARN) -std=gnu11 -pthread \
	     -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -Iinclude -Iuapi \
	     $(shell pkg-config --cflags $(PKGS))
LDLIBS = $(shell pkg-config --libs $(PKGS)) -pthread

LIB_SRCS := $(wildcard lib/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/obj/%.o)
NYDUSFS_SRCS := $(wildcard tools/nydusfs/*.c)
NYDUSFS_OBJS := $(NYDUSFS_SRCS:%.c=$(BUILD)/obj/%.o)
TEST_SRCS := $(wildcard tests/*.c)
TEST_PROGS := $(TEST_SRCS:tests/%.c=$(BUILD)/tests/%)
LIBNYDUSFS := $(BUILD)/libnydusfs.a

# nydusfsd, the cache daemon (daemon/), and its host tests (tests/daemon/):
# tests/daemon/X.c becomes $(BUILD)/tests/nydusfsd_X, linked with every
# daemon object but main.o.
DAEMON_PKGS := liburing libcurl jansson libcrypto
DAEMON_SRCS := $(wildcard daemon/*.c)
DAEMON_OBJS := $(DAEMON_SRCS:%.c=$(BUILD)/obj/%.o)
DAEMON_LIB_OBJS := $(filter-out $(BUILD)/obj/daemon/main.o,$(DAEMON_OBJS))
DAEMON_TEST_SRCS := $(wildcard tests/daemon/*.c)
DAEMON_TEST_OBJS := $(DAEMON_TEST_SRCS:%.c=$(BUILD)/obj/%.o)
DAEMON_TEST_PROGS := $(DAEMON_TEST_SRCS:tests/daemon/%.c=$(BUILD)/tests/nydusfsd_%)
DAEMON_LDLIBS = $(shell pkg-config --libs $(DAEMON_PKGS))

SAN_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	     -fno-sanitize-recover=all

.PHONY: all deps programs san fuzz check demo bench install modules clean
all: deps
	$(MAKE) programs
	$(MAKE) san

deps: $(BUILD)/.deps-ok
$(BUILD)/.deps-ok: scripts/install-deps.sh
	scripts/install-deps.sh
	@mkdir -p $(@D) && touch $@

programs: $(BUILD)/bin/nydusfs $(TEST_PROGS) $(BUILD)/bin/nydusfsd \
	  $(DAEMON_TEST_PROGS)

san:
	$(MAKE) BUILD=build/san EXTRA_CFLAGS="$(SAN_FLAGS)" \
		LDFLAGS="$(SAN_FLAGS)" programs

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

$(LIBNYDUSFS): $(LIB_OBJS)
	@mkdir -p $(@D)
	rm -f $@ && ar rcs $@ $^

$(BUILD)/bin/nydusfs: $(NYDUSFS_OBJS) $(LIBNYDUSFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBNYDUSFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(DAEMON_OBJS) $(DAEMON_TEST_OBJS): ALL_CFLAGS += -Idaemon \
	$(shell pkg-config --cflags $(DAEMON_PKGS))

$(BUILD)/bin/nydusfsd: $(DAEMON_OBJS) $(LIBNYDUSFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LDLIBS) $(LDLIBS)

$(BUILD)/tests/nydusfsd_%: $(BUILD)/obj/tests/daemon/%.o $(DAEMON_LIB_OBJS) \
			   $(LIBNYDUSFS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(DAEMON_LDLIBS) $(LDLIBS)

fuzz: deps
	$(MAKE) -C fuzz

check: all fuzz modules
	tests/run.sh

# IMAGE, CMD and WHERE reach the recipe's environment when given on the
# command line; the script installs and builds what it needs itself.
demo:
	@scripts/demo.sh $(if $(IMAGE),--image "$$IMAGE") $(if $(CMD),--cmd "$$CMD") \
		$(if $(WHERE),--where "$$WHERE")

bench: all modules
	bench/run.sh

# The unit names the installed paths; only the example config is installed
# under SYSCONFDIR, so a user's nydusfsd.conf is never touched.
install: programs
	install -D -m 0755 $(BUILD)/bin/nydusfs $(DESTDIR)$(PREFIX)/bin/nydusfs
	install -D -m 0755 $(BUILD)/bin/nydusfsd $(DESTDIR)$(PREFIX)/sbin/nydusfsd
	install -d $(DESTDIR)$(MOUNTHELPERDIR)
	ln -sfn $(PREFIX)/bin/nydusfs $(DESTDIR)$(MOUNTHELPERDIR)/mount.nydusfs
	install -D -m 0644 Documentation/nydusfs.1 $(DESTDIR)$(MANDIR)/man1/nydusfs.1
	install -D -m 0644 Documentation/nydusfsd.8 \
		$(DESTDIR)$(MANDIR)/man8/nydusfsd.8
	install -D -m 0644 Documentation/nydusfsd.rst \
		$(DESTDIR)$(DOCDIR)/nydusfsd.rst
	install -d $(DESTDIR)$(UNITDIR)
	sed -e 's|/usr/local/sbin/|$(PREFIX)/sbin/|' \
	    -e 's|/usr/local/share/doc/nydusfs/|$(DOCDIR)/|' \
	    -e 's|/etc/nydusfs/|$(SYSCONFDIR)/nydusfs/|' \
	    daemon/nydusfsd.service >$(DESTDIR)$(UNITDIR)/nydusfsd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/nydusfsd.service
	install -D -m 0644 daemon/nydusfsd.conf.example \
		$(DESTDIR)$(SYSCONFDIR)/nydusfs/nydusfsd.conf.example

# The Debian 12 cloud kernel the module targets (the host cannot load it:
# tools/vm-run boots that kernel in QEMU).  KDIR=/lib/modules/$(uname -r)/build
# builds it for the running kernel instead (scripts/demo.sh on a host that
# can load modules).
KVER ?= $(shell ls /usr/src | sed -n 's/^linux-headers-\(6\.1\.[0-9.-]*-cloud-amd64\)$$/\1/p' | sort -V | tail -n 1)
KDIR ?= /usr/src/linux-headers-$(KVER)
modules: deps
	$(MAKE) -C $(KDIR) M=$(CURDIR) \
		CONFIG_DEBUG_INFO_BTF_MODULES= modules

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
