#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""faultproxy.py: a fault-injecting HTTP proxy for registry tests.

It listens on 127.0.0.1 (plain HTTP), forwards each request to --upstream
(a plain-HTTP registry, Host header kept so the registry's Location URLs
point back here), and applies the first rule that matches.  A second
listener plays "object storage" for the redirect rule.

Rules (one per line in --rules FILE, or --rule RULE, or PUT /_rules with
the lines as body; '#' starts a comment):  ACTION [KEY=VALUE...]

  status code=N [retry_after=S]  answer N (e.g. 500, 502, 503, 429, 403)
                                 without forwarding; Retry-After: S if given
  delay secs=S                   wait S seconds, then forward
  stall after=N secs=S           forward; send the headers and N body bytes,
                                 pause S seconds, then send the rest
  reset [after=N]                forward; send the headers and N body bytes,
                                 then reset the connection (TCP RST); with
                                 no after=, reset before any answer
  truncate after=N               forward; send the headers (the full
                                 Content-Length) and N body bytes, close
  flip [offset=N] [count=K]      forward; XOR 0xff into K (default 1) body
                                 bytes from offset N (default 0): wrong
                                 data under the upstream's status (206)
  norange                        drop the request's Range, answer 200 with
                                 the whole body
  redirect [code=307] [host=H] [ttl=S]
                                 for a blob GET/HEAD the upstream would
                                 answer 2xx: answer CODE with Location at
                                 the object store (http://H:OBJPORT/...),
                                 a URL that expires after S s (403 then)

Match keys (all must hold; by default a rule matches every request):
  path=REGEX   re.search on the request path (without the query)
  method=M     GET, HEAD, PUT...   (comma-separated list allowed)
  range=yes|no the request has / has no Range header
  skip=N       let the first N matching requests pass untouched
  every=K      after those, apply to every K-th matching request only
  times=N      apply at most N times, then pass (default: always)

The object store serves GET/HEAD /blobs/DIGEST?repo=&expires=&sig= from the
registry's storage directory (--storage, the registry's rootdirectory) or
else from the upstream (without credentials), with Range support.  Like S3
it answers 400 to a request that carries an Authorization header; it
counts those requests either way (objstore.with_authorization).

Control endpoints (not counted): GET /_stats (JSON: requests, paths,
ranges, log, rules, objstore), POST /_reset (zero the counters), GET /_rules,
PUT /_rules (replace the rules).  --stats-file FILE: the stats are written
there at exit.
"""
import argparse
import hashlib
import http.client
import json
import os
import re
import shlex
import socket
import struct
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True     # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lifetime  # noqa: E402

ACTIONS = ("status", "delay", "stall", "reset", "truncate", "flip",
           "norange", "redirect")
HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate",
              "proxy-authorization", "te", "trailer", "transfer-encoding",
              "upgrade", "proxy-connection"}
BLOB_PATH = re.compile(r"^/v2/(.+)/blobs/(sha256:[0-9a-f]{64})$")
LOG_MAX = 20000


class Abort(Exception):
    """The connection has been reset or closed on purpose."""


class Rule:
    def __init__(self, text):
        self.text = text.strip()
        words = shlex.split(self.text)
        if not words or words[0] not in ACTIONS:
            raise ValueError("unknown action in rule %r" % self.text)
        self.action = words[0]
        self.opts = {}
        for w in words[1:]:
            k, sep, v = w.partition("=")
            if not sep:
                raise ValueError("%r in rule %r is not KEY=VALUE" % (w, text))
            self.opts[k] = v
        self.path = re.compile(self.opts.pop("path", ""))
        m = self.opts.pop("method", "")
        self.methods = set(m.upper().split(",")) if m else None
        self.range = self.opts.pop("range", None)
        self.skip = int(self.opts.pop("skip", 0))
        self.times = int(self.opts.pop("times", -1))
        self.every = max(1, int(self.opts.pop("every", 1)))
        self.matched = 0
        self.applied = 0
        if self.action == "status" and "code" not in self.opts:
            raise ValueError("rule %r needs code=" % text)

    def num(self, key, default):
        v = self.opts.get(key)
        return default if v is None else float(v)

    def inum(self, key, default):
        return int(self.num(key, default))

    def matches(self, method, path, has_range):
        if self.action == "redirect" and (method not in ("GET", "HEAD") or
                                          not BLOB_PATH.match(path)):
            return False
        if self.methods and method not in self.methods:
            return False
        if self.range is not None and (self.range == "yes") != has_range:
            return False
        return bool(self.path.search(path))

    def take(self):
        """Count a matching request; True if the fault applies to it."""
        self.matched += 1
        if self.matched <= self.skip:
            return False
        if (self.matched - self.skip - 1) % self.every:
            return False
        if 0 <= self.times <= self.applied:
            return False
        self.applied += 1
        return True

    def stats(self):
        return {"rule": self.text, "matched": self.matched,
                "applied": self.applied}


def parse_rules(text):
    rules = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            rules.append(Rule(line))
    return rules


class Stats:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.requests = 0
        self.paths = {}
        self.ranges = {}
        self.log = []

    def count(self, method, path, rng, auth):
        self.requests += 1
        self.paths[path] = self.paths.get(path, 0) + 1
        r = self.ranges.setdefault(path, {})
        key = rng or "-"
        r[key] = r.get(key, 0) + 1
        entry = {"t": round(time.time(), 3), "method": method, "path": path,
                 "range": rng, "auth": auth}
        if len(self.log) < LOG_MAX:
            self.log.append(entry)
        return entry

    def dump(self):
        return {"requests": self.requests, "paths": self.paths,
                "ranges": self.ranges, "log": self.log}


class Proxy:
    def __init__(self, args):
        self.args = args
        up = urllib.parse.urlsplit(args.upstream)
        if up.scheme != "http":
            raise SystemExit("faultproxy: --upstream must be http://HOST:PORT")
        self.up_host, self.up_port = up.hostname, up.port or 80
        self.lock = threading.Lock()
        self.stats = Stats()
        self.obj = Stats()
        self.obj_with_auth = 0
        self.upstream_errors = 0
        text = ""
        if args.rules:
            with open(args.rules) as f:
                text = f.read()
        text += "\n".join(args.rule or [])
        self.rules = parse_rules(text)
        self.obj_port = 0
        self.secret = os.urandom(16).hex()

    def pick(self, method, path, has_range):
        with self.lock:
            for r in self.rules:
                if r.matches(method, path, has_range) and r.take():
                    return r
        return None

    def dump(self):
        with self.lock:
            d = self.stats.dump()
            d["rules"] = [r.stats() for r in self.rules]
            d["upstream_errors"] = self.upstream_errors
            o = self.obj.dump()
            o["with_authorization"] = self.obj_with_auth
            d["objstore"] = o
            return d

    def reset(self):
        with self.lock:
            self.stats.reset()
            self.obj.reset()
            self.obj_with_auth = 0
            self.upstream_errors = 0
            for r in self.rules:
                r.matched = r.applied = 0

    def sign(self, digest, repo, expires):
        m = "%s|%s|%d|%s" % (digest, repo, expires, self.secret)
        return hashlib.sha256(m.encode()).hexdigest()[:32]


def reset_connection(handler):
    """Abortive close: SO_LINGER 0 makes close() send a RST."""
    handler.wfile.flush()
    sock = handler.connection
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                    struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.rfile.close()
    sock.close()
    raise Abort()


def close_connection(handler):
    handler.wfile.flush()
    handler.close_connection = True
    try:
        handler.connection.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    raise Abort()


class Base(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nydusfs-faultproxy"
    timeout = 120

    def log_message(self, fmt, *a):
        if self.server.proxy.args.verbose:
            sys.stderr.write("%s: %s\n" % (self.NAME, fmt % a))

    def simple(self, code, body=b"", headers=()):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def request_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                n = int(self.rfile.readline().split(b";")[0], 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else None

    def handle_one_request(self):
        try:
            super().handle_one_request()
        except Abort:
            self.close_connection = True
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True


class ProxyHandler(Base):
    NAME = "faultproxy"

    def do_any(self):
        px = self.server.proxy
        url = urllib.parse.urlsplit(self.path)
        path = url.path
        if path.startswith("/_"):
            return self.control(path)
        rng = self.headers.get("Range")
        with px.lock:
            entry = px.stats.count(self.command, path, rng,
                                   "Authorization" in self.headers)
        body = self.request_body()
        rule = px.pick(self.command, path, rng is not None)
        entry["rule"] = rule.text if rule else None
        act = rule.action if rule else None
        if act == "status":
            code = rule.inum("code", 500)
            hdrs = [("Content-Type", "application/json")]
            if "retry_after" in rule.opts:
                hdrs.append(("Retry-After", rule.opts["retry_after"]))
            return self.simple(code, json.dumps({"errors": [{
                "code": "FAULTPROXY", "message": "injected %d" % code}]}) +
                "\n", hdrs)
        if act == "reset" and "after" not in rule.opts:
            return reset_connection(self)
        if act == "delay":
            time.sleep(rule.num("secs", 1))
        if act == "redirect":
            m = BLOB_PATH.match(path)
            if self.redirect(rule, m.group(1), m.group(2)):
                return
        self.forward(body, rule)

    do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_any

    def control(self, path):
        px = self.server.proxy
        if path == "/_stats" and self.command == "GET":
            return self.simple(200, json.dumps(px.dump()) + "\n",
                               [("Content-Type", "application/json")])
        if path == "/_reset" and self.command == "POST":
            self.request_body()
            px.reset()
            return self.simple(200, "{}\n")
        if path == "/_rules" and self.command == "GET":
            return self.simple(200, "".join(r.text + "\n" for r in px.rules))
        if path == "/_rules" and self.command in ("PUT", "POST"):
            try:
                rules = parse_rules((self.request_body() or b"").decode())
            except ValueError as e:
                return self.simple(400, "%s\n" % e)
            with px.lock:
                px.rules = rules
            return self.simple(200, "".join(r.text + "\n" for r in rules))
        return self.simple(404, "unknown control endpoint\n")

    def upstream(self, method, body, drop=()):
        px = self.server.proxy
        conn = http.client.HTTPConnection(px.up_host, px.up_port, timeout=60)
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() not in HOP_BY_HOP and k.lower() not in drop}
        if body is not None:
            hdrs["Content-Length"] = str(len(body))
        conn.request(method, self.path, body=body, headers=hdrs)
        return conn, conn.getresponse()

    def redirect(self, rule, repo, digest):
        """Check the request with the upstream (auth included); if it would
        succeed, send CODE with the object store's URL instead."""
        px = self.server.proxy
        try:
            conn, resp = self.upstream("HEAD", None, drop=("range",))
            resp.read()
            conn.close()
        except OSError:
            return False
        if resp.status // 100 != 2:
            return False
        expires = int(time.time() + rule.num("ttl", 600))
        q = urllib.parse.urlencode({"repo": repo, "expires": expires,
                                    "sig": px.sign(digest, repo, expires)})
        loc = "http://%s:%d/blobs/%s?%s" % (
            rule.opts.get("host", "127.0.0.1"), px.obj_port, digest, q)
        self.simple(rule.inum("code", 307), "", [("Location", loc)])
        return True

    def forward(self, body, rule):
        px = self.server.proxy
        act = rule.action if rule else None
        try:
            conn, resp = self.upstream(
                self.command, body,
                drop=("range", "if-range") if act == "norange" else ())
        except OSError as e:
            with px.lock:
                px.upstream_errors += 1
            return self.simple(502, "faultproxy: upstream: %s\n" % e)
        try:
            self.relay(resp, rule)
        finally:
            conn.close()

    def relay(self, resp, rule):
        act = rule.action if rule else None
        length = resp.getheader("Content-Length")
        data = None
        if length is None and self.command != "HEAD" and \
                resp.status not in (204, 304):
            data = resp.read()
            length = str(len(data))
        self.log_request(resp.status)
        self.send_response_only(resp.status)
        for k, v in resp.getheaders():
            if k.lower() not in HOP_BY_HOP and k.lower() != "content-length":
                self.send_header(k, v)
        if length is not None:
            self.send_header("Content-Length", length)
        self.end_headers()
        if self.command == "HEAD":
            return
        after = rule.inum("after", 0) if rule else 0
        flip_at = rule.inum("offset", 0) if act == "flip" else -1
        flip_end = flip_at + (rule.inum("count", 1) if act == "flip" else 0)
        pending = act in ("reset", "truncate", "stall")
        sent = 0

        def chunks():
            if data is not None:
                yield data
            else:
                yield from iter(lambda: resp.read(65536), b"")
            yield b""       # so that after= the body's size still acts

        for buf in chunks():
            if pending and sent + len(buf) >= after:
                head = buf[:after - sent]
                self.wfile.write(head)
                sent += len(head)
                buf = buf[len(head):]
                if act == "reset":
                    reset_connection(self)
                if act == "truncate":
                    close_connection(self)
                self.wfile.flush()
                time.sleep(rule.num("secs", 1))
                pending = False
            if not buf:
                continue
            if sent < flip_end and sent + len(buf) > flip_at:
                b = bytearray(buf)
                for i in range(max(flip_at, sent), min(flip_end, sent + len(b))):
                    b[i - sent] ^= 0xff
                buf = bytes(b)
            self.wfile.write(buf)
            sent += len(buf)


class ObjHandler(Base):
    NAME = "objstore"

    def do_GET(self):
        px = self.server.proxy
        url = urllib.parse.urlsplit(self.path)
        q = dict(urllib.parse.parse_qsl(url.query))
        rng = self.headers.get("Range")
        auth = "Authorization" in self.headers
        with px.lock:
            px.obj.count(self.command, url.path, rng, auth)
            px.obj_with_auth += auth
        if auth:
            return self.simple(400, "objstore: Authorization header with a "
                               "signed URL (only one auth mechanism allowed)\n")
        m = re.match(r"^/blobs/(sha256:[0-9a-f]{64})$", url.path)
        if not m:
            return self.simple(404, "objstore: no such object\n")
        digest, repo = m.group(1), q.get("repo", "")
        try:
            expires = int(q.get("expires", "0"))
        except ValueError:
            expires = 0
        if q.get("sig") != px.sign(digest, repo, expires):
            return self.simple(403, "objstore: bad signature\n")
        if time.time() > expires:
            return self.simple(403, "objstore: URL expired\n")
        data = self.load(repo, digest)
        if data is None:
            return self.simple(404, "objstore: blob not found\n")
        self.serve(data, rng)

    do_HEAD = do_GET

    def load(self, repo, digest):
        px = self.server.proxy
        hexd = digest.split(":", 1)[1]
        if px.args.storage:
            p = os.path.join(px.args.storage, "docker/registry/v2/blobs/sha256",
                             hexd[:2], hexd, "data")
            try:
                with open(p, "rb") as f:
                    return f.read()
            except OSError:
                return None
        conn = http.client.HTTPConnection(px.up_host, px.up_port, timeout=60)
        try:
            conn.request("GET", "/v2/%s/blobs/%s" % (repo, digest))
            resp = conn.getresponse()
            body = resp.read()
            return body if resp.status == 200 else None
        except OSError:
            return None
        finally:
            conn.close()

    def serve(self, data, rng):
        size = len(data)
        hdrs = [("Accept-Ranges", "bytes"),
                ("Content-Type", "application/octet-stream")]
        m = re.fullmatch(r"bytes=(\d*)-(\d*)", (rng or "").strip())
        if not m or (m.group(1) == "" and m.group(2) == ""):
            return self.simple(200, data, hdrs)
        if m.group(1) == "":
            start, end = max(0, size - int(m.group(2))), size - 1
        else:
            start = int(m.group(1))
            end = min(size - 1, int(m.group(2))) if m.group(2) else size - 1
        if start >= size or start > end:
            return self.simple(416, "", [("Content-Range", "bytes */%d" % size)])
        hdrs.append(("Content-Range", "bytes %d-%d/%d" % (start, end, size)))
        self.simple(206, data[start:end + 1], hdrs)


def serve(addr, handler, proxy):
    srv = ThreadingHTTPServer(addr, handler)
    srv.daemon_threads = True
    srv.proxy = proxy
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    return srv


def main():
    ap = argparse.ArgumentParser(prog="faultproxy.py", description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--upstream", required=True, help="http://HOST:PORT")
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--obj-port", type=int, default=0)
    ap.add_argument("--rules", help="a file of rules, one per line")
    ap.add_argument("--rule", action="append", help="one rule (repeatable)")
    ap.add_argument("--storage", help="the registry's storage rootdirectory")
    ap.add_argument("--env-file", help="write FAULTPROXY_URL=... here when "
                    "ready")
    ap.add_argument("--stats-file", help="write the stats here at exit")
    ap.add_argument("-v", "--verbose", action="store_true")
    lifetime.add_arguments(ap)
    args = ap.parse_args()

    try:
        proxy = Proxy(args)
    except ValueError as e:
        raise SystemExit("faultproxy: %s" % e)
    obj = serve((args.bind, args.obj_port), ObjHandler, proxy)
    proxy.obj_port = obj.server_address[1]
    front = serve((args.bind, args.port), ProxyHandler, proxy)

    def on_exit(reason):
        if args.stats_file:
            lifetime.write_atomic(args.stats_file, json.dumps(proxy.dump()))
        os._exit(0)

    lifetime.bound("faultproxy", args.owner, args.max_lifetime, on_exit)
    url = "http://%s:%d" % (args.bind, front.server_address[1])
    objurl = "http://%s:%d" % (args.bind, proxy.obj_port)
    if args.env_file:
        lifetime.write_atomic(args.env_file,
                              "FAULTPROXY_URL=%s\nFAULTPROXY_PID=%d\n"
                              "OBJSTORE_URL=%s\n" % (url, os.getpid(), objurl))
    print("faultproxy: %s -> %s, object store %s" % (url, args.upstream,
          objurl), file=sys.stderr, flush=True)
    while True:
        time.sleep(3600)


if __name__ == "__main__":
    main()
