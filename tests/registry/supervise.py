#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""supervise.py [--owner PID] [--max-lifetime S] [--pidfile F] -- CMD [ARG...]

Run CMD (e.g. docker-registry, which cannot bound its own life) as a child
that dies with this supervisor (PR_SET_PDEATHSIG=SIGKILL), and stop it when
the owner exits, after the maximum lifetime, or on SIGTERM/SIGINT: SIGTERM
first, SIGKILL after 3 s.  Exits with the child's status, or 0 when it
stopped the child itself.
"""
import argparse
import os
import signal
import subprocess
import sys
import time

sys.dont_write_bytecode = True     # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lifetime  # noqa: E402


def _reaped(pid):
    try:
        return os.waitpid(pid, os.WNOHANG)[0] == pid
    except ChildProcessError:
        return True


def stop(pid):
    """SIGTERM, then SIGKILL after 3 s.  Uses waitpid directly: this may
    run in a signal handler that interrupted Popen.wait()."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(300):
        if _reaped(pid):
            return
        time.sleep(0.01)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return
    while not _reaped(pid):
        time.sleep(0.01)


def main():
    ap = argparse.ArgumentParser(prog="supervise.py")
    lifetime.add_arguments(ap)
    ap.add_argument("--pidfile", help="write the child's pid here")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    args = ap.parse_args()
    cmd = args.cmd[1:] if args.cmd[:1] == ["--"] else args.cmd
    if not cmd:
        ap.error("no command")

    child = subprocess.Popen(cmd, preexec_fn=lifetime.set_pdeathsig,
                             stdin=subprocess.DEVNULL)
    if args.pidfile:
        lifetime.write_atomic(args.pidfile, "%d\n" % child.pid)

    def on_exit(reason):
        stop(child.pid)
        os._exit(0)

    lifetime.bound("supervise(%s)" % os.path.basename(cmd[0]), args.owner,
                   args.max_lifetime, on_exit)
    while True:
        try:
            rc = child.wait()
            break
        except InterruptedError:
            continue
    print("supervise: %s exited with %d" % (cmd[0], rc), file=sys.stderr,
          flush=True)
    sys.exit(rc if rc >= 0 else 128 - rc)


if __name__ == "__main__":
    main()
