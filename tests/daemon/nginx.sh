#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
# timeout: 300
#
# nydusfsd behind nginx (Debian's nginx-light, run by the test itself: one
# process each, ephemeral ports on 127.0.0.1, its own prefix and temporary
# directories), with docker-registry as the origin and nydusfsd_fakedev
# playing the kernel:
#
# - a registry front that wants Basic credentials and answers blob GETs
#   with 307 to an "object store" (nginx serving the registry's blob files,
#   400 to any Authorization, like S3): the daemon authenticates to the
#   front, follows, and never sends Authorization to the store;
# - a front that answers every request with 302 to the registry on another
#   port: followed, no Authorization there either;
# - a caching pull-through mirror (proxy_cache) in [registry "HOST"]
#   mirror: it serves every chunk, from its cache the second time with no
#   request to the origin; a mirror answering 502 and a mirror that is down
#   fall back to the origin.
# Every fetch ends with the cache checked chunk by chunk.
. "$(dirname "$0")/../lib.sh"

require docker-registry nginx curl python3 jq

. "$(dirname "$0")/lib_registry.sh"

NGINX_PIDS=()
trap 'rc=$?; trap - ERR; set +e; for p in "${NGINX_PIDS[@]}"; do kill "$p" 2>/dev/null; done; for d in "${DIRS[@]}"; do "$REG/registry.sh" stop "$d" >/dev/null 2>&1; done; wait; (exit $rc); _cleanup' EXIT

free_ports()
{
	python3 - "$1" <<'EOF'
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

# start_nginx NAME: run nginx with $T/NAME/nginx.conf (the template on
# stdin, @PORTn@ and @DIR@ replaced, new ports on each try) under
# supervise.py; its pid in NGINX_PID, the ports in PORTS[].
start_nginx()
{
	local name=$1 dir=$T/$1 tmpl conf try i n

	tmpl=$(cat)
	n=$(grep -o '@PORT[0-9]@' <<<"$tmpl" | sort -u | wc -l)
	mkdir -p "$dir/tmp" "$dir/cache"
	for try in 1 2 3; do
		read -ra PORTS <<<"$(free_ports "$n")"
		conf=${tmpl//@DIR@/$dir}
		for i in "${!PORTS[@]}"; do
			conf=${conf//@PORT$i@/${PORTS[$i]}}
		done
		printf '%s\n' "$conf" >"$dir/nginx.conf"
		: >"$dir/error.log"
		python3 "$REG/supervise.py" --owner $$ -- nginx -p "$dir" \
			-c "$dir/nginx.conf" -e "$dir/error.log" \
			</dev/null >>"$dir/nginx.out" 2>&1 &
		NGINX_PID=$!
		for i in $(seq 1 50); do
			curl -s -o /dev/null "http://127.0.0.1:${PORTS[0]}/" && break
			kill -0 $NGINX_PID 2>/dev/null || break
			sleep 0.1
		done
		if curl -s -o /dev/null "http://127.0.0.1:${PORTS[0]}/"; then
			NGINX_PIDS+=("$NGINX_PID")
			return 0
		fi
		kill $NGINX_PID 2>/dev/null
		wait $NGINX_PID 2>/dev/null
		grep -q 'Address already in use' "$dir/error.log" ||
			fail "nginx $name did not start: $(tail -n 5 "$dir/error.log")"
	done
	fail "nginx $name: no free ports in 3 tries"
}

# The settings every instance shares: one process, no daemon, all files
# under its directory, an access log with what the checks need.
nginx_head()
{
	cat <<'EOF'
daemon off;
master_process off;
pid @DIR@/nginx.pid;
events { worker_connections 256; }
http {
	map $http_authorization $has_auth { "" no; default yes; }
	log_format t '$server_port $request_method $uri $status auth=$has_auth cache=$upstream_cache_status';
	access_log @DIR@/access.log t;
	client_body_temp_path @DIR@/tmp/body;
	proxy_temp_path @DIR@/tmp/proxy;
	fastcgi_temp_path @DIR@/tmp/fastcgi;
	uwsgi_temp_path @DIR@/tmp/uwsgi;
	scgi_temp_path @DIR@/tmp/scgi;
EOF
}

# nlog NAME PORT: the registry API lines of one server's access log
nlog() { grep "^$2 [A-Z]* /v2/" "$T/$1/access.log" || true; }

start_reg plain
ROOT=$REGISTRY_ROOT/docker/registry/v2/blobs/sha256
RUSER=puller
RPASS=$(head -c 12 /dev/urandom | base64 | tr -d '/+=')
BASIC=$(printf '%s:%s' "$RUSER" "$RPASS" | base64 -w0)

# ---- the fronts, the object store, the registry's logging proxy ----
# front PORT "CODE URL": a registry front that wants the test's Basic
# credentials (401 and a challenge without them), then redirects.
front()
{
	cat <<EOF
	server {
		listen 127.0.0.1:$1;
		location /v2/ {
			if (\$http_authorization != "Basic $BASIC") {
				add_header WWW-Authenticate 'Basic realm="front"' always;
				return 401;
			}
			return $2;
		}
	}
EOF
}

# PORT0 object store, PORT1 front -> object store, PORT2 front -> registry,
# PORT3 the registry through a logging proxy, PORT4 a mirror answering 502
fronts_conf()
{
	nginx_head
	cat <<EOF
	server {
		listen 127.0.0.1:@PORT0@;
		location ~ "^/v2/.+/blobs/sha256:(?<p>[0-9a-f]{2})(?<q>[0-9a-f]{62})\$" {
			if (\$http_authorization) { return 400; }
			alias $ROOT/\$p/\$p\$q/data;
		}
	}
$(front @PORT1@ "307 http://127.0.0.1:@PORT0@\$uri")
$(front @PORT2@ "302 http://127.0.0.1:@PORT3@\$request_uri")
	server {
		listen 127.0.0.1:@PORT3@;
		location / { proxy_pass http://$REGISTRY_HOST; }
	}
	server {
		listen 127.0.0.1:@PORT4@;
		location / { proxy_pass http://127.0.0.1:@DEADPORT@; }
	}
}
EOF
}
start_nginx fronts < <(fronts_conf | sed "s/@DEADPORT@/$(free_ports 1)/")
OBJ=${PORTS[0]} FRONT=${PORTS[1]} FRONT2=${PORTS[2]} REGPROXY=${PORTS[3]}
BADMIRROR=${PORTS[4]}
info "nginx: object store $OBJ, fronts $FRONT and $FRONT2, registry proxy $REGPROXY, bad mirror $BADMIRROR"

# through FRONT CODE TARGET WHAT: fetch through the front on port FRONT,
# which redirects with CODE to port TARGET: every chunk comes, the front
# saw the credentials after its challenge, TARGET saw ranges and never an
# Authorization header.
through()
{
	local front=$1 code=$2 target=$3 n a

	SOURCE=127.0.0.1:$front SOURCE_HOST=127.0.0.1:$front \
		USERPASS=$RUSER:$RPASS conf
	fetch
	n=$(nlog fronts "$target" | grep -c ' 206 auth=no' || true)
	a=$(nlog fronts "$target" | grep -c 'auth=yes' || true)
	[ "$n" -gt 0 ] || fail "$code: no range reached $4"
	[ "$a" = 0 ] || fail "$code: Authorization sent to $4 ($a requests)"
	nlog fronts "$front" | grep -q " $code auth=yes" ||
		fail "$code: the front never saw the credentials"
	nlog fronts "$front" | grep -q ' 401 auth=no' ||
		fail "$code: the front asked for nothing?"
	[ "$(metric fetch_chunks_total "registry:127.0.0.1:$front/")" = "$NCHUNKS" ] ||
		fail "$code: not every chunk came through the front"
	info "$code to $4: $n ranges there, none with Authorization, ok"
}

# ---- (a) fronts redirecting to the object store, and to the registry ----
through "$FRONT" 307 "$OBJ" "the object store"
through "$FRONT2" 302 "$REGPROXY" "the registry on another port"

# ---- (b) a caching pull-through mirror ----
mirror_conf()
{
	nginx_head
	cat <<EOF
	proxy_cache_path @DIR@/cache keys_zone=mirror:1m levels=1:2 max_size=256m inactive=1h use_temp_path=off;
	server {
		listen 127.0.0.1:@PORT0@;
		location /v2/ {
			proxy_pass http://$REGISTRY_HOST;
			proxy_cache mirror;
			proxy_cache_key \$uri;
			proxy_cache_valid 200 206 1h;
			proxy_cache_lock on;
		}
	}
}
EOF
}
start_nginx mirror < <(mirror_conf)
MIRROR=${PORTS[0]}
MIRROR_PID=$NGINX_PID
MSRC="mirror:http://127.0.0.1:$MIRROR ("
RSRC="registry:$REGISTRY_HOST/"

MIRRORS=http://127.0.0.1:$MIRROR conf
fetch
[ "$(metric fetch_chunks_total "$MSRC")" = "$NCHUNKS" ] &&
	[ "$(metric fetch_chunks_total "$RSRC")" = 0 ] ||
	fail "the mirror did not serve every chunk: $(grep chunks_total "$T/metrics")"
nlog mirror "$MIRROR" | grep -q 'cache=MISS' || fail "the mirror cached nothing"
first=$(nlog mirror "$MIRROR" | wc -l)
fetch
rest=$(nlog mirror "$MIRROR" | tail -n +$((first + 1)))
[ -n "$rest" ] || fail "the second run did not use the mirror"
if grep -v 'cache=HIT' <<<"$rest" | grep -q .; then
	fail "the second run went to the origin: $(grep -v 'cache=HIT' <<<"$rest" | head -n 3)"
fi
[ "$(metric fetch_chunks_total "$MSRC")" = "$NCHUNKS" ] ||
	fail "the second run did not take every chunk from the mirror"
info "caching mirror: $first requests, then $(wc -l <<<"$rest") cache hits, ok"

# a mirror answering 502 (its upstream is down), then the good one
MIRRORS="http://127.0.0.1:$BADMIRROR http://127.0.0.1:$MIRROR" conf
fetch
[ "$(metric fetch_chunks_total "$MSRC")" = "$NCHUNKS" ] ||
	fail "no fallback to the second mirror"
[ "$(metric fetch_errors_total "mirror:http://127.0.0.1:$BADMIRROR (")" -gt 0 ] &&
	grep -q 'HTTP 502' "$T/d.log" || fail "the 502s went unnoticed"
info "mirror answering 502: the next mirror served, ok"

MIRRORS=http://127.0.0.1:$BADMIRROR conf
fetch
[ "$(metric fetch_chunks_total "$RSRC")" = "$NCHUNKS" ] ||
	fail "no fallback to the origin after 502s"
info "mirror answering 502, no other: the origin served, ok"

# the mirror down
kill "$MIRROR_PID"
wait "$MIRROR_PID" 2>/dev/null || true
MIRRORS=http://127.0.0.1:$MIRROR conf
fetch
[ "$(metric fetch_chunks_total "$RSRC")" = "$NCHUNKS" ] &&
	[ "$(metric fetch_chunks_total "$MSRC")" = 0 ] ||
	fail "no fallback to the origin with the mirror down"
grep -qi 'connect' "$T/d.log" || fail "the refused connection was not logged"
info "mirror down: the origin served, ok"

echo "PASS: $TEST_NAME"
