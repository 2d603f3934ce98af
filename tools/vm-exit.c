// SPDX-License-Identifier: GPL-2.0
/*
 * vm-exit - end a QEMU guest with an exit status (used by tools/vm-run).
 *
 *   vm-exit STATUS [TTY]...
 *
 * Waits until every TTY named has sent all its output (tcdrain), so that
 * nothing written to the results serial ports is lost, then writes STATUS
 * to the isa-debug-exit device at I/O port 0xf4.  QEMU then exits with
 * (STATUS << 1) | 1.  Built static (gcc -static -O2) by tools/vm-run: the
 * guest has no C library of its own.  Returns only if the port write did
 * not stop the machine (no isa-debug-exit device), with status 1.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <termios.h>
#include <unistd.h>

#define VM_EXIT_PORT 0xf4

static void drain_tty(const char *path)
{
	int fd = open(path, O_WRONLY | O_NOCTTY | O_NONBLOCK);

	if (fd < 0) {
		fprintf(stderr, "vm-exit: %s: %s\n", path, strerror(errno));
		return;
	}
	if (tcdrain(fd))
		fprintf(stderr, "vm-exit: tcdrain %s: %s\n", path,
			strerror(errno));
	close(fd);
}

int main(int argc, char **argv)
{
	unsigned long status;
	char *end;
	int i;

	if (argc < 2) {
		fprintf(stderr, "usage: vm-exit STATUS [TTY]...\n");
		return 2;
	}
	status = strtoul(argv[1], &end, 0);
	if (*argv[1] == '\0' || *end != '\0') {
		fprintf(stderr, "vm-exit: bad status '%s'\n", argv[1]);
		return 2;
	}
	for (i = 2; i < argc; i++)
		drain_tty(argv[i]);
	if (ioperm(VM_EXIT_PORT, 4, 1)) {
		fprintf(stderr, "vm-exit: ioperm: %s\n", strerror(errno));
		return 1;
	}
	outl((unsigned int)status, VM_EXIT_PORT);
	fprintf(stderr, "vm-exit: no isa-debug-exit device at 0x%x\n",
		VM_EXIT_PORT);
	return 1;
}
