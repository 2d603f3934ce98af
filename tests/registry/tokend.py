#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""tokend.py: a small registry token server for the tests (Docker token
authentication as docker-registry's `auth.token` expects it).

  GET  /token?service=S&scope=repository:NAME:pull[,push]   (Basic auth)
  POST /token  (form: grant_type=password, username, password, service,
                scope; the OAuth2 form some clients use)
    -> 200 {"token": JWT, "access_token": JWT, "expires_in": N,
            "issued_at": RFC3339}
       401 without or with wrong credentials (unless --anonymous: then a
       token granting pull only), 400 for a service that is not ours.
  GET  /_stats   {"requests", "tokens_issued", "denied", "issued": [{t,
                 sub, scope}...]} (t: seconds since the epoch, float)
  POST /_reset   zero the counters

JWT: RS256 signed with `openssl dgst -sha256 -sign KEY` (Python's stdlib has
no RSA), header {"typ", "alg", "x5c": [the signing cert, DER, base64]},
claims iss, sub, aud, exp, nbf, iat, jti, access.  Every requested action is
granted to an authenticated user.  docker-registry accepts a token up to
60 s past its exp claim; --strict-expiry moves exp back by those 60 s so a
token stops working right when expires_in says.
"""
import argparse
import base64
import datetime
import json
import os
import ssl
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.dont_write_bytecode = True     # no __pycache__ in the tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import lifetime  # noqa: E402

# docker-registry 2.8 accepts a token up to 60 s past its exp claim.
REGISTRY_LEEWAY = 60


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def cert_der_b64(cert_pem):
    der = subprocess.run(["openssl", "x509", "-in", cert_pem, "-outform",
                          "DER"], check=True, capture_output=True).stdout
    return base64.b64encode(der).decode()


def parse_scopes(scopes):
    """["repository:a/b:pull,push", ...] -> access claim entries."""
    access = []
    for scope in scopes:
        for one in scope.split(" "):
            parts = one.split(":")
            if len(parts) < 3:
                continue
            typ, actions = parts[0], parts[-1]
            name = ":".join(parts[1:-1])
            access.append({"type": typ, "name": name,
                           "actions": [a for a in actions.split(",") if a]})
    return access


class TokenServer:
    def __init__(self, args):
        self.args = args
        self.x5c = cert_der_b64(args.cert)
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.requests = 0
            self.denied = 0
            self.issued = []

    def stats(self):
        with self.lock:
            return {"requests": self.requests, "denied": self.denied,
                    "tokens_issued": len(self.issued),
                    "issued": list(self.issued[-1000:])}

    def sign(self, claims):
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self.x5c]}
        signing_input = (b64url(json.dumps(header).encode()) + "." +
                         b64url(json.dumps(claims).encode()))
        sig = subprocess.run(["openssl", "dgst", "-sha256", "-sign",
                              self.args.key], input=signing_input.encode(),
                             check=True, capture_output=True).stdout
        return signing_input + "." + b64url(sig)

    def token(self, subject, scopes):
        now = int(time.time())
        access = parse_scopes(scopes)
        if subject == "":
            for a in access:
                a["actions"] = [x for x in a["actions"] if x == "pull"]
        exp = now + self.args.expires_in
        if self.args.strict_expiry:
            exp -= REGISTRY_LEEWAY
        claims = {"iss": self.args.issuer, "sub": subject,
                  "aud": self.args.service, "exp": exp,
                  "nbf": now - 1, "iat": now, "jti": uuid.uuid4().hex,
                  "access": access}
        jwt = self.sign(claims)
        with self.lock:
            self.issued.append({"t": time.time(), "sub": subject,
                                "scope": " ".join(scopes)})
        issued_at = datetime.datetime.fromtimestamp(
            now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        return {"token": jwt, "access_token": jwt,
                "expires_in": self.args.expires_in, "issued_at": issued_at}

    def check_user(self, user, password):
        return user == self.args.user and password == self.args.password


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nydusfs-tokend"
    timeout = 60

    def log_message(self, fmt, *a):
        if self.server.ts.args.verbose:
            sys.stderr.write("tokend: %s\n" % (fmt % a))

    def reply(self, code, obj, headers=()):
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def basic_creds(self):
        h = self.headers.get("Authorization", "")
        if not h.lower().startswith("basic "):
            return None
        try:
            user, _, pw = base64.b64decode(h[6:].strip()).decode().partition(":")
        except ValueError:
            return ("", None)
        return (user, pw)

    def issue(self, creds, service, scopes):
        ts = self.server.ts
        with ts.lock:
            ts.requests += 1
        if service is not None and service != ts.args.service:
            return self.reply(400, {"errors": [{
                "code": "INVALID_SERVICE",
                "message": "unknown service %r" % service}]})
        if creds is None and ts.args.anonymous:
            return self.reply(200, ts.token("", scopes))
        if creds is None or not ts.check_user(*creds):
            with ts.lock:
                ts.denied += 1
            return self.reply(401, {"errors": [{
                "code": "UNAUTHORIZED", "message": "authentication required"}]},
                [("WWW-Authenticate", 'Basic realm="nydusfs-tokend"')])
        self.reply(200, ts.token(creds[0], scopes))

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(url.query)
        if url.path == "/_stats":
            return self.reply(200, self.server.ts.stats())
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
        self.issue(self.basic_creds(), (q.get("service") or [None])[0],
                   q.get("scope", []))

    def do_POST(self):
        url = urllib.parse.urlsplit(self.path)
        n = int(self.headers.get("Content-Length") or 0)
        form = urllib.parse.parse_qs(self.rfile.read(n).decode())
        if url.path == "/_reset":
            self.server.ts.reset()
            return self.reply(200, {})
        if url.path != "/token":
            return self.reply(404, {"errors": [{"code": "NOT_FOUND"}]})
        creds = None
        if (form.get("grant_type") or [""])[0] == "password":
            creds = ((form.get("username") or [""])[0],
                     (form.get("password") or [""])[0])
        else:
            creds = self.basic_creds()
        self.issue(creds, (form.get("service") or [None])[0],
                   " ".join(form.get("scope", [])).split())


def main():
    ap = argparse.ArgumentParser(prog="tokend.py", description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--key", required=True, help="RSA private key (PEM)")
    ap.add_argument("--cert", required=True, help="its certificate (PEM)")
    ap.add_argument("--issuer", default="nydusfs-tokend")
    ap.add_argument("--service", default="nydusfs-registry")
    ap.add_argument("--user", default="nydusfs")
    ap.add_argument("--password", default="")
    ap.add_argument("--anonymous", action="store_true",
                    help="no credentials: a token that grants pull only")
    ap.add_argument("--expires-in", type=int, default=300,
                    help="token lifetime in seconds (default 300)")
    ap.add_argument("--strict-expiry", action="store_true",
                    help="exp claim = now + expires_in - %d, so that the "
                    "registry (which allows %d s of leeway) refuses a token "
                    "as soon as expires_in has passed" % (REGISTRY_LEEWAY,
                                                         REGISTRY_LEEWAY))
    ap.add_argument("--bind", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--tls-cert", help="serve HTTPS with this cert...")
    ap.add_argument("--tls-key", help="...and key")
    ap.add_argument("--env-file", help="write TOKEN_URL=... here when ready")
    ap.add_argument("-v", "--verbose", action="store_true")
    lifetime.add_arguments(ap)
    args = ap.parse_args()

    srv = ThreadingHTTPServer((args.bind, args.port), Handler)
    srv.daemon_threads = True
    srv.ts = TokenServer(args)
    scheme = "http"
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
        scheme = "https"
    url = "%s://%s:%d/token" % (scheme, args.bind, srv.server_address[1])
    lifetime.bound("tokend", args.owner, args.max_lifetime,
                   lambda reason: os._exit(0))
    if args.env_file:
        lifetime.write_atomic(args.env_file, "TOKEN_URL=%s\nTOKEND_PID=%d\n"
                              % (url, os.getpid()))
    print("tokend: listening on %s" % url, file=sys.stderr, flush=True)
    srv.serve_forever()


if __name__ == "__main__":
    main()
