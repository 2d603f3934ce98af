#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# registry.sh: a real OCI registry (Debian's docker-registry) on 127.0.0.1,
# on an ephemeral port, for tests.
#
#   registry.sh start [--auth none|basic|token] [--tls] [--dir DIR]
#                     [--owner PID] [--expires-in SECS] [--strict-expiry]
#                     [--anonymous]
#       Start it (and, for --auth token, tests/registry/tokend.py) with a
#       generated config, wait until GET /v2/ answers, and print shell
#       assignments for eval (see "Printed variables" below).  DIR (default:
#       a new temporary directory) holds the config, storage, keys, logs and
#       pids.  Starting again with the same DIR while it runs just prints
#       the variables again.  --expires-in, --strict-expiry, --anonymous:
#       see tokend.py.
#   registry.sh proxy [--dir DIR] [--rules FILE] [--rule RULE]...
#                     [--upstream URL] [--owner PID] [-- FAULTPROXY ARGS]
#       Start tests/registry/faultproxy.py in front of the registry of DIR
#       (plain HTTP only) and print FAULTPROXY_URL, FAULTPROXY_HOST,
#       FAULTPROXY_PID, OBJSTORE_URL.  `stop` stops it too.
#   registry.sh restart [DIR]
#       Stop the registry only (storage, keys, token server and proxies
#       stay) and start it again on the same port.
#   registry.sh stop [DIR]
#       Stop everything started for DIR, wait until it is gone, and remove
#       DIR if `start` created it (unless KEEP_TMP=1).
#   DIR defaults to $REGISTRY_DIR for proxy, restart and stop.
#
# Everything binds 127.0.0.1 only.  Every process started here exits by
# itself when the owner exits (--owner PID; pass `--owner $$` from a test;
# the default is the shell that ran registry.sh, seen through subshells;
# 0: none), after $REGISTRY_MAX_LIFETIME seconds (default 900), or on
# SIGTERM; docker-registry runs under supervise.py with PR_SET_PDEATHSIG.
#
# Printed variables (also in DIR/env), all exported:
#   REGISTRY_DIR REGISTRY_URL (http[s]://127.0.0.1:PORT) REGISTRY_HOST
#   (127.0.0.1:PORT, for docker:// references) REGISTRY_PID (docker-registry
#   itself) REGISTRY_SUPERVISOR_PID REGISTRY_MODE REGISTRY_ROOT
#   REGISTRY_LOGFILE REGISTRY_CONFIG
#   --tls:          REGISTRY_CA (the CA's PEM) REGISTRY_CERT_DIR (holds
#                   ca.crt, for skopeo --*-cert-dir)
#   basic, token:   REGISTRY_USER REGISTRY_PASS REGISTRY_DOCKER_CONFIG (a
#                   docker-style config.json with the credentials)
#   token:          TOKEN_URL TOKEND_PID TOKEN_SERVICE TOKEN_ISSUER
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
MAX_LIFETIME=${REGISTRY_MAX_LIFETIME:-900}
SERVICE=nydusfs-registry
ISSUER=nydusfs-tokend

usage()
{
	sed -n '4,/^set /p' "$0" | grep '^#' | sed 's/^# \{0,1\}//' >&2
	exit 2
}

die()
{
	echo "registry.sh: $*" >&2
	exit 1
}

# wait_for SECONDS CMD...: poll CMD every 20 ms until it succeeds.
wait_for()
{
	local n=$(($1 * 50))

	shift
	while ! "$@" >/dev/null 2>&1; do
		n=$((n - 1))
		[ "$n" -gt 0 ] || return 1
		sleep 0.02
	done
}

# Is PID one of the processes started from this directory's scripts?
ours()
{
	local cmd

	{ cmd=$(tr '\0' ' ' <"/proc/$1/cmdline"); } 2>/dev/null || return 1
	case $cmd in
	*"$HERE/"* | "docker-registry serve "*) return 0 ;;
	*) return 1 ;;
	esac
}

# Is PID running?  A zombie is not (it may wait a while for init to reap it).
alive()
{
	local stat

	[ -n "$1" ] || return 1
	{ stat=$(cat "/proc/$1/stat"); } 2>/dev/null || return 1
	stat=${stat##*) }
	[ "${stat%% *}" != Z ]
}

# kill_wait PID...: SIGTERM, then SIGKILL after 5 s; returns when gone.
kill_wait()
{
	local p left n=250

	for p in "$@"; do
		ours "$p" && kill -TERM "$p" 2>/dev/null
	done
	while :; do
		left=""
		for p in "$@"; do
			ours "$p" && left="$left $p"
		done
		[ -n "$left" ] || return 0
		n=$((n - 1))
		if [ "$n" = 0 ]; then
			# shellcheck disable=SC2086
			kill -KILL $left 2>/dev/null
		fi
		sleep 0.02
	done
}

# The default owner: the shell that ran us.  $PPID may be a subshell of it
# (a command substitution that bash did not turn into an exec, as with
# traps set), which exits as soon as we print: skip those, they share
# the executable and command line of their parent.
default_owner()
{
	local p=$PPID pp

	while :; do
		{ pp=$(awk '{print $4}' "/proc/$p/stat"); } 2>/dev/null || break
		[ "$pp" -gt 1 ] || break
		[ "$(readlink "/proc/$p/exe")" = "$(readlink "/proc/$pp/exe")" ] ||
			break
		cmp -s "/proc/$p/cmdline" "/proc/$pp/cmdline" || break
		p=$pp
	done
	echo "$p"
}

# ---- keys and certificates ----

gen_tls()
{
	local d=$1

	mkdir -p "$d/certs.d"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
		-nodes -keyout "$d/ca.key" -out "$d/ca.crt" -days 2 \
		-subj "/CN=nydusfs test CA $$" \
		-addext "basicConstraints=critical,CA:TRUE" \
		-addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
		-keyout "$d/server.key" -out "$d/server.csr" \
		-subj "/CN=localhost" 2>/dev/null
	printf '%s\n' "subjectAltName=DNS:localhost,IP:127.0.0.1" \
		"basicConstraints=CA:FALSE" \
		"keyUsage=critical,digitalSignature,keyEncipherment" \
		"extendedKeyUsage=serverAuth" >"$d/server.ext"
	openssl x509 -req -in "$d/server.csr" -CA "$d/ca.crt" \
		-CAkey "$d/ca.key" -CAcreateserial -out "$d/server.crt" \
		-days 2 -extfile "$d/server.ext" 2>/dev/null
	cp "$d/ca.crt" "$d/certs.d/ca.crt"
}

# The token server's RS256 signing key and its self-signed certificate,
# which is the registry's rootcertbundle.
gen_token_key()
{
	local d=$1

	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$d/token.key" 2>/dev/null
	openssl req -x509 -key "$d/token.key" -out "$d/token.crt" -days 2 \
		-subj "/CN=nydusfs-tokend $$" 2>/dev/null
}

write_auth_file()
{
	local file=$1 host=$2 user=$3 pass=$4

	printf '{"auths": {"%s": {"auth": "%s"}}}\n' "$host" \
		"$(printf '%s:%s' "$user" "$pass" | base64 -w0)" >"$file"
}

# ---- the registry ----

write_config()
{
	local dir=$1 port=$2 auth=$3 tls=$4 realm=${5:-}

	{
		echo "version: 0.1"
		echo "log:"
		echo "  level: ${REGISTRY_LOG_LEVEL:-info}"
		echo "  formatter: text"
		echo "storage:"
		echo "  filesystem: {rootdirectory: $dir/storage}"
		echo "  delete: {enabled: true}"
		echo "  maintenance: {uploadpurging: {enabled: false}}"
		echo "http:"
		echo "  addr: 127.0.0.1:$port"
		echo "  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')"
		if [ "$tls" = 1 ]; then
			echo "  tls:"
			echo "    certificate: $dir/tls/server.crt"
			echo "    key: $dir/tls/server.key"
		fi
		case $auth in
		basic)
			echo "auth:"
			echo "  htpasswd:"
			echo "    realm: $SERVICE"
			echo "    path: $dir/auth/htpasswd"
			;;
		token)
			echo "auth:"
			echo "  token:"
			echo "    realm: $realm"
			echo "    service: $SERVICE"
			echo "    issuer: $ISSUER"
			echo "    rootcertbundle: $dir/auth/token.crt"
			;;
		esac
	} >"$dir/config.yml"
}

listening_port()
{
	sed -n 's/.*msg="listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' \
		"$1/log/registry.log" | tail -n 1 | grep .
}

answers()
{
	local code

	code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 \
		${REGISTRY_CA:+--cacert "$REGISTRY_CA"} "$1/v2/") || true
	[ "$code" != 000 ]
}

# run_registry DIR OWNER: start docker-registry under supervise.py, wait
# until it answers; sets PORT, REGISTRY_PID, SUPERVISOR_PID.
run_registry()
{
	local dir=$1 owner=$2 scheme=$3 v
	local -a clean=()

	# docker-registry reads REGISTRY_<SECTION>_<KEY> variables as config
	# overrides: run it without any (ours and the test's included).
	for v in $(compgen -e); do
		case $v in REGISTRY_*) clean+=(-u "$v") ;; esac
	done
	: >"$dir/log/registry.log"
	rm -f "$dir/registry.pid"
	env "${clean[@]}" python3 "$HERE/supervise.py" --owner "$owner" \
		--max-lifetime "$MAX_LIFETIME" --pidfile "$dir/registry.pid" \
		-- docker-registry serve "$dir/config.yml" \
		</dev/null >>"$dir/log/registry.log" 2>&1 &
	SUPERVISOR_PID=$!
	echo "$SUPERVISOR_PID" >>"$dir/pids"
	if ! wait_for 15 listening_port "$dir"; then
		tail -n 20 "$dir/log/registry.log" >&2
		die "docker-registry did not start (log: $dir/log/registry.log)"
	fi
	PORT=$(listening_port "$dir")
	REGISTRY_PID=$(cat "$dir/registry.pid")
	wait_for 15 answers "$scheme://127.0.0.1:$PORT" ||
		die "docker-registry on port $PORT does not answer GET /v2/"
}

start_tokend()
{
	local dir=$1 owner=$2 expires=$3 anon=$4 tls=$5 strict=$6

	rm -f "$dir/tokend.env"
	python3 "$HERE/tokend.py" --key "$dir/auth/token.key" \
		--cert "$dir/auth/token.crt" --issuer "$ISSUER" \
		--service "$SERVICE" --user "$REGISTRY_USER" \
		--password "$REGISTRY_PASS" --expires-in "$expires" \
		${anon:+--anonymous} ${strict:+--strict-expiry} \
		${tls:+--tls-cert "$dir/tls/server.crt" --tls-key "$dir/tls/server.key"} \
		--env-file "$dir/tokend.env" --owner "$owner" \
		--max-lifetime "$MAX_LIFETIME" \
		</dev/null >"$dir/log/tokend.log" 2>&1 &
	echo $! >>"$dir/pids"
	wait_for 10 test -s "$dir/tokend.env" || {
		cat "$dir/log/tokend.log" >&2
		die "tokend did not start"
	}
	# shellcheck disable=SC1091
	. "$dir/tokend.env"
}

cmd_start()
{
	local auth=none tls=0 dir="" owner="" expires=300 anon="" created=0
	local strict=""
	local scheme=http

	while [ $# -gt 0 ]; do
		case $1 in
		--auth) auth=$2; shift ;;
		--auth=*) auth=${1#*=} ;;
		--tls) tls=1 ;;
		--dir) dir=$2; shift ;;
		--owner) owner=$2; shift ;;
		--expires-in) expires=$2; shift ;;
		--anonymous) anon=1 ;;
		--strict-expiry) strict=1 ;;
		*) usage ;;
		esac
		shift
	done
	case $auth in none | basic | token) ;; *) usage ;; esac
	[ -n "$owner" ] || owner=$(default_owner)
	for c in docker-registry openssl curl python3; do
		command -v "$c" >/dev/null ||
			die "missing '$c' (run scripts/install-deps.sh)"
	done
	[ "$auth" != basic ] || command -v htpasswd >/dev/null ||
		die "missing htpasswd (apache2-utils; run scripts/install-deps.sh)"

	if [ -n "$dir" ] && [ -s "$dir/env" ]; then
		(
			# shellcheck disable=SC1091
			. "$dir/env"
			alive "$REGISTRY_PID" && ours "$REGISTRY_SUPERVISOR_PID"
		) && { cat "$dir/env"; return 0; }
		cmd_stop "$dir" >/dev/null
	fi
	if [ -z "$dir" ]; then
		dir=$(mktemp -d "${TMPDIR:-/tmp}/nydusfs-registry.XXXXXX")
		created=1
	fi
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	mkdir -p "$dir/storage" "$dir/auth" "$dir/log"
	[ "$created" = 0 ] || touch "$dir/.created"
	: >"$dir/pids"
	START_DIR=$dir
	# shellcheck disable=SC2154
	trap 'rc=$?; [ $rc = 0 ] || cmd_stop "$START_DIR" >/dev/null 2>&1; exit $rc' EXIT

	REGISTRY_CA=""
	if [ "$tls" = 1 ]; then
		mkdir -p "$dir/tls"
		gen_tls "$dir/tls"
		REGISTRY_CA=$dir/tls/ca.crt
		scheme=https
	fi
	REGISTRY_USER=nydusfs
	REGISTRY_PASS=$(head -c 12 /dev/urandom | base64 | tr '+/' 'xy')
	case $auth in
	basic)
		htpasswd -Bbn "$REGISTRY_USER" "$REGISTRY_PASS" \
			>"$dir/auth/htpasswd" 2>/dev/null
		;;
	token)
		gen_token_key "$dir/auth"
		start_tokend "$dir" "$owner" "$expires" "$anon" \
			"$([ "$tls" = 1 ] && echo 1)" "$strict"
		;;
	esac
	write_config "$dir" 0 "$auth" "$tls" "${TOKEN_URL:-}"
	run_registry "$dir" "$owner" "$scheme"
	# pin the port so that `restart` comes back on it
	sed -i "s/^  addr: 127.0.0.1:0$/  addr: 127.0.0.1:$PORT/" "$dir/config.yml"

	{
		printf 'REGISTRY_DIR=%q\n' "$dir"
		printf 'REGISTRY_URL=%q\n' "$scheme://127.0.0.1:$PORT"
		printf 'REGISTRY_HOST=%q\n' "127.0.0.1:$PORT"
		printf 'REGISTRY_PID=%q\n' "$REGISTRY_PID"
		printf 'REGISTRY_SUPERVISOR_PID=%q\n' "$SUPERVISOR_PID"
		printf 'REGISTRY_MODE=%q\n' "$auth"
		printf 'REGISTRY_ROOT=%q\n' "$dir/storage"
		printf 'REGISTRY_LOGFILE=%q\n' "$dir/log/registry.log"
		printf 'REGISTRY_CONFIG=%q\n' "$dir/config.yml"
		local vars="REGISTRY_DIR REGISTRY_URL REGISTRY_HOST REGISTRY_PID"
		vars="$vars REGISTRY_SUPERVISOR_PID REGISTRY_MODE REGISTRY_ROOT"
		vars="$vars REGISTRY_LOGFILE REGISTRY_CONFIG"
		if [ "$tls" = 1 ]; then
			printf 'REGISTRY_CA=%q\n' "$REGISTRY_CA"
			printf 'REGISTRY_CERT_DIR=%q\n' "$dir/tls/certs.d"
			vars="$vars REGISTRY_CA REGISTRY_CERT_DIR"
		fi
		if [ "$auth" != none ]; then
			write_auth_file "$dir/auth/config.json" "127.0.0.1:$PORT" \
				"$REGISTRY_USER" "$REGISTRY_PASS"
			printf 'REGISTRY_USER=%q\n' "$REGISTRY_USER"
			printf 'REGISTRY_PASS=%q\n' "$REGISTRY_PASS"
			printf 'REGISTRY_DOCKER_CONFIG=%q\n' "$dir/auth/config.json"
			vars="$vars REGISTRY_USER REGISTRY_PASS REGISTRY_DOCKER_CONFIG"
		fi
		if [ "$auth" = token ]; then
			printf 'TOKEN_URL=%q\n' "$TOKEN_URL"
			printf 'TOKEND_PID=%q\n' "$TOKEND_PID"
			printf 'TOKEN_SERVICE=%q\n' "$SERVICE"
			printf 'TOKEN_ISSUER=%q\n' "$ISSUER"
			vars="$vars TOKEN_URL TOKEND_PID TOKEN_SERVICE TOKEN_ISSUER"
		fi
		echo "export $vars"
	} >"$dir/env"
	cat "$dir/env"
	trap - EXIT
}

cmd_proxy()
{
	local dir=${REGISTRY_DIR:-} upstream="" owner="" n
	local -a extra=()

	while [ $# -gt 0 ]; do
		case $1 in
		--dir) dir=$2; shift ;;
		--upstream) upstream=$2; shift ;;
		--owner) owner=$2; shift ;;
		--rules) extra+=(--rules "$2"); shift ;;
		--rule) extra+=(--rule "$2"); shift ;;
		--) shift; extra+=("$@"); break ;;
		*) usage ;;
		esac
		shift
	done
	[ -n "$owner" ] || owner=$(default_owner)
	{ [ -n "$dir" ] && [ -s "$dir/env" ]; } || die "proxy: no registry (--dir)"
	dir=$(cd "$dir" && pwd)
	(
		# shellcheck disable=SC1091
		. "$dir/env"
		[ -n "$upstream" ] || upstream=$REGISTRY_URL
		case $upstream in
		http://*) ;;
		*) die "proxy: the upstream must be plain http, not $upstream" ;;
		esac
		n=$(find "$dir" -maxdepth 1 -name 'proxy.*.env' | wc -l)
		env=$dir/proxy.$n.env
		python3 "$HERE/faultproxy.py" --upstream "$upstream" \
			--storage "$REGISTRY_ROOT" --env-file "$env" \
			--stats-file "$dir/log/proxy.$n.stats.json" \
			--owner "$owner" --max-lifetime "$MAX_LIFETIME" \
			"${extra[@]}" </dev/null >"$dir/log/proxy.$n.log" 2>&1 &
		echo $! >>"$dir/pids"
		wait_for 10 test -s "$env" || {
			cat "$dir/log/proxy.$n.log" >&2
			die "faultproxy did not start"
		}
		sed 's/^\(FAULTPROXY_URL=http:\/\/\)\(.*\)$/&\nFAULTPROXY_HOST=\2/' "$env"
		echo "export FAULTPROXY_URL FAULTPROXY_HOST FAULTPROXY_PID OBJSTORE_URL"
	)
}

cmd_restart()
{
	local dir=${1:-${REGISTRY_DIR:-}} owner scheme

	owner=$(default_owner)
	{ [ -n "$dir" ] && [ -s "$dir/env" ]; } || die "restart: no registry"
	# shellcheck disable=SC1091
	. "$dir/env"
	kill_wait "$REGISTRY_SUPERVISOR_PID"
	scheme=${REGISTRY_URL%%://*}
	run_registry "$dir" "$owner" "$scheme"
	sed -i -e "s/^REGISTRY_PID=.*/REGISTRY_PID=$REGISTRY_PID/" \
		-e "s/^REGISTRY_SUPERVISOR_PID=.*/REGISTRY_SUPERVISOR_PID=$SUPERVISOR_PID/" \
		"$dir/env"
	cat "$dir/env"
}

cmd_stop()
{
	local dir=${1:-${REGISTRY_DIR:-}}
	local -a pids=()

	[ -n "$dir" ] || die "stop: which registry? (DIR or \$REGISTRY_DIR)"
	[ -d "$dir" ] || return 0
	if [ -s "$dir/pids" ]; then
		mapfile -t pids <"$dir/pids"
	fi
	if [ -s "$dir/registry.pid" ]; then
		pids+=("$(cat "$dir/registry.pid")")
	fi
	[ ${#pids[@]} = 0 ] || kill_wait "${pids[@]}"
	rm -f "$dir/pids" "$dir/env"
	if [ -e "$dir/.created" ] && [ "${KEEP_TMP:-0}" != 1 ]; then
		rm -rf "$dir"
	fi
}

case ${1:-} in
start) shift; cmd_start "$@" ;;
proxy) shift; cmd_proxy "$@" ;;
restart) shift; cmd_restart "$@" ;;
stop) shift; cmd_stop "$@" ;;
*) usage ;;
esac
