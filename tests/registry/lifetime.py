# SPDX-License-Identifier: GPL-2.0
"""Bounded lifetimes for the test servers in tests/registry/.

Every server a test starts must go away with the test, whatever happens to
the test: it exits when its owner process dies (watched through a pidfd),
after a maximum lifetime, or on SIGTERM/SIGINT.  Children it spawns get
PR_SET_PDEATHSIG so they die with it even if it is killed with SIGKILL.
"""
import ctypes
import os
import select
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1


def set_pdeathsig(sig=signal.SIGKILL):
    """Have the kernel send SIG to this process when its parent dies."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG)")


def _wait_owner(owner, deadline):
    """Return when OWNER has exited or DEADLINE (monotonic) has passed."""
    try:
        fd = os.pidfd_open(owner)
    except (AttributeError, OSError):
        fd = -1
    if fd < 0:
        while time.monotonic() < deadline:
            try:
                os.kill(owner, 0)
            except ProcessLookupError:
                return "owner %d exited" % owner
            except PermissionError:
                pass
            time.sleep(0.25)
        return "maximum lifetime reached"
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "maximum lifetime reached"
        if poller.poll(min(left, 3600) * 1000):
            return "owner %d exited" % owner


def bound(name, owner, lifetime, on_exit):
    """Call on_exit(reason) once when OWNER (a pid, 0 = none) exits, when
    LIFETIME seconds have passed, or on SIGTERM/SIGINT.  on_exit must end
    the process (os._exit); the signal handlers run in the main thread."""
    done = threading.Lock()

    def finish(reason):
        if done.acquire(blocking=False):
            print("%s: exiting: %s" % (name, reason), file=sys.stderr,
                  flush=True)
            on_exit(reason)

    def watcher():
        deadline = time.monotonic() + lifetime
        if owner > 0:
            reason = _wait_owner(owner, deadline)
        else:
            time.sleep(max(0.0, deadline - time.monotonic()))
            reason = "maximum lifetime reached"
        finish(reason)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, lambda s, f: finish("signal %d" % s))
    threading.Thread(target=watcher, daemon=True).start()


def add_arguments(parser):
    parser.add_argument("--owner", type=int, default=os.getppid(),
                        help="exit when this pid exits (default: the "
                        "parent; 0: never)")
    parser.add_argument("--max-lifetime", type=float, default=900,
                        help="exit after this many seconds (default 900)")


def write_atomic(path, text):
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)
