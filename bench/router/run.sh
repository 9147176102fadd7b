#!/usr/bin/env bash
# Router benchmark: wrk against the backend directly, nginx as a reverse
# proxy with upstream keepalive, and bluegreen, in one run on loopback.
# See bench/README.md for what it measures and how to read it.
#
# Environment (all optional):
#   BENCH_THREADS=2  BENCH_CONNS=64  BENCH_DURATION=10s   wrk parameters, the same for every target
#   BENCH_WARMUP=3s       warm-up run before each measured run (0 to skip)
#   BENCH_ROUNDS=1        measured rounds; targets are interleaved per round and
#                         the round with the median req/s is reported per target
#   BENCH_TARGETS="direct nginx bluegreen"   which targets to run, in this order
#   BACKEND_PROCS=0       GOMAXPROCS of the backend (0: runtime default = all cores)
#   BLUEGREEN_PROCS=0     GOMAXPROCS of bluegreen (0: runtime default)
#   BENCH_PATH=/          path requested: / (23 bytes), /1k or /64k (answers of that size)
#   BENCH_CLOSE=0         1: the client sends Connection: close (a new connection per request)
#   BENCH_IDLE=0          N>0: after the runs, the memory (RSS) of nginx and bluegreen
#                         before and while they hold N idle keep-alive client connections
#   BLUEGREEN_BIN=FILE    use this bluegreen binary instead of building ./cmd/bluegreen
#   BENCH_OUT=FILE        also write the results as JSON to FILE
#   BENCH_KEEP=1          keep the temp dir (configs, logs) for inspection
set -euo pipefail

THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNS:-64}
DURATION=${BENCH_DURATION:-10s}
WARMUP=${BENCH_WARMUP:-3s}
ROUNDS=${BENCH_ROUNDS:-1}
TARGETS=${BENCH_TARGETS:-direct nginx bluegreen}
BACKEND_PROCS=${BACKEND_PROCS:-0}
BLUEGREEN_PROCS=${BLUEGREEN_PROCS:-0}
URLPATH=${BENCH_PATH:-/}
CLOSE=${BENCH_CLOSE:-0}
IDLE=${BENCH_IDLE:-0}
WRK_HDR=()
[[ $CLOSE == 1 ]] && WRK_HDR=(-H "Connection: close")

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PATH=$PATH:/usr/sbin:/sbin

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- cleanup: every process this script starts is in PIDS -------------------
PIDS=()
TMP=
cleanup() {
	local rc=$? pid i
	if [[ -n ${WRK_PID:-} ]]; then PIDS+=("$WRK_PID"); fi
	for pid in "${PIDS[@]}"; do
		kill -TERM "$pid" 2>/dev/null || true
	done
	# Bounded: give them 5s to exit, then SIGKILL what is left.
	for ((i = 0; i < 50; i++)); do
		local alive=0
		for pid in "${PIDS[@]}"; do
			if kill -0 "$pid" 2>/dev/null; then alive=1; fi
		done
		((alive)) || break
		sleep 0.1
	done
	for pid in "${PIDS[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			log "process $pid did not stop in 5s; killing it and its children"
			pkill -KILL -P "$pid" 2>/dev/null || true
			kill -KILL "$pid" 2>/dev/null || true
		fi
		wait "$pid" 2>/dev/null || true
	done
	if [[ -n $TMP && -d $TMP ]]; then
		if [[ ${BENCH_KEEP:-} == 1 ]]; then
			log "kept $TMP"
		else
			rm -rf "$TMP"
		fi
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- 1. tools ----------------------------------------------------------------
install_tools() {
	local missing=()
	command -v wrk >/dev/null || missing+=(wrk)
	command -v nginx >/dev/null || missing+=(nginx)
	((${#missing[@]})) || return 0
	log "installing ${missing[*]} with apt-get"
	local sudo=
	if ((EUID != 0)); then
		command -v sudo >/dev/null || die "need root or sudo to install ${missing[*]}"
		sudo=sudo
	fi
	# Keep the nginx package from starting a system-wide nginx on port 80:
	# a policy-rc.d that refuses service starts, only if none is there already.
	local policy=/usr/sbin/policy-rc.d made_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod 0755 "$policy"
		made_policy=1
	fi
	local rc=0 aptlog
	aptlog=$(mktemp -t bluegreen-bench-apt.XXXXXX)
	{ $sudo apt-get update -q && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}"; } >"$aptlog" 2>&1 || rc=$?
	if ((made_policy)); then $sudo rm -f "$policy"; fi
	if ((rc != 0)); then
		tail -n 20 "$aptlog" >&2
		rm -f "$aptlog"
		die "apt-get install ${missing[*]} failed (exit $rc)"
	fi
	rm -f "$aptlog"
}

# --- helpers -----------------------------------------------------------------

# free_port VAR sets VAR to a TCP port on 127.0.0.1 that nothing listens on
# and that this script has not handed out yet.
USED_PORTS=" "
free_port() {
	local port i
	for ((i = 0; i < 200; i++)); do
		port=$((20000 + RANDOM % 30000))
		[[ $USED_PORTS == *" $port "* ]] && continue
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
			USED_PORTS+="$port "
			printf -v "$1" '%s' "$port"
			return 0
		fi
	done
	die "no free port found"
}

# http_status PORT prints the status code of GET / on 127.0.0.1:PORT (or 000).
http_status() {
	local port=$1 line
	line=$(timeout 2 bash -c '
		exec 3<>"/dev/tcp/127.0.0.1/$0" || exit 1
		printf "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" >&3
		IFS= read -r line <&3 && printf "%s" "$line"' "$port" 2>/dev/null) || true
	line=${line#HTTP/1.? }
	echo "${line:0:3}" | grep -E '^[0-9]{3}$' || echo 000
}

# wait_ok NAME PORT PID: wait up to 30s for GET / to answer 200.
wait_ok() {
	local name=$1 port=$2 pid=$3 i code=000
	for ((i = 0; i < 300; i++)); do
		kill -0 "$pid" 2>/dev/null || die "$name exited during startup; see $TMP/$name.log"
		code=$(http_status "$port")
		[[ $code == 200 ]] && return 0
		sleep 0.1
	done
	die "$name on 127.0.0.1:$port not answering 200 after 30s (last status $code); see $TMP/$name.log"
}

# random_secret FILE writes 32 random hex bytes to FILE with mode 0600.
random_secret() {
	(umask 077 && od -An -N32 -tx1 /dev/urandom | tr -d ' \n' >"$1")
}

# to_ms VALUE prints a wrk duration (e.g. 812.00us, 1.20ms, 2.01s) in ms.
to_ms() {
	awk -v v="$1" 'BEGIN {
		n = v + 0; u = v; sub(/^[0-9.]+/, "", u)
		if (u == "us") n /= 1000; else if (u == "s") n *= 1000; else if (u == "m") n *= 60000
		printf "%.3f", n }'
}

# run_wrk ARGS... runs wrk in the background and waits for it, so that a
# signal interrupts the wait at once and cleanup stops wrk too.
WRK_PID=
run_wrk() {
	wrk "$@" &
	WRK_PID=$!
	wait "$WRK_PID"
	WRK_PID=
}

# cpu_ticks PID prints the CPU time (user+system, in clock ticks) used so
# far by PID and its direct children (nginx's workers).
cpu_ticks() {
	local pid total=0 t
	for pid in "$1" $(pgrep -P "$1" || true); do
		t=$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}
CLK_TCK=$(getconf CLK_TCK)

# bench TARGET PORT OUTFILE: one wrk run, parsed into
# "rps p50 p99 errors proxy_cpu_us_per_req backend_cpu_us_per_req".
bench() {
	local target=$1 port=$2 out=$3 url="http://127.0.0.1:$2$URLPATH"
	if [[ $WARMUP != 0 && $WARMUP != 0s ]]; then
		run_wrk -t"$THREADS" -c"$CONNS" -d"$WARMUP" "${WRK_HDR[@]}" "$url" >/dev/null
	fi
	local p0=0 p1=0 b0 b1
	[[ $target == direct ]] || p0=$(cpu_ticks "${PROC[$target]}")
	b0=$(cpu_ticks "$BACKEND_PID")
	run_wrk -t"$THREADS" -c"$CONNS" -d"$DURATION" --latency "${WRK_HDR[@]}" "$url" >"$TMP/wrk-$target.txt"
	[[ $target == direct ]] || p1=$(cpu_ticks "${PROC[$target]}")
	b1=$(cpu_ticks "$BACKEND_PID")
	local requests proxy_us backend_us
	requests=$(awk '/ requests in / {print $1}' "$TMP/wrk-$target.txt")
	proxy_us=$(awk -v d=$((p1 - p0)) -v n="${requests:-0}" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? d * 1e6 / hz / n : 0 }')
	backend_us=$(awk -v d=$((b1 - b0)) -v n="${requests:-0}" -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", n ? d * 1e6 / hz / n : 0 }')
	local rps p50 p99 non2xx sockerr
	rps=$(awk '/^Requests\/sec:/ {print $2}' "$TMP/wrk-$target.txt")
	p50=$(awk '$1 == "50%" {print $2}' "$TMP/wrk-$target.txt")
	p99=$(awk '$1 == "99%" {print $2}' "$TMP/wrk-$target.txt")
	non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$TMP/wrk-$target.txt")
	sockerr=$(awk '/Socket errors:/ {gsub(",", ""); print $4 + $6 + $8 + $10}' "$TMP/wrk-$target.txt")
	[[ -n $rps && -n $p50 && -n $p99 ]] || die "cannot parse wrk output for $target: $(cat "$TMP/wrk-$target.txt")"
	local errors=$((${non2xx:-0} + ${sockerr:-0}))
	((errors == 0)) || log "warning: $target: $errors errors (non-2xx or socket errors); see $TMP/wrk-$target.txt and the logs in $TMP (run with BENCH_KEEP=1)"
	echo "$rps $(to_ms "$p50") $(to_ms "$p99") $errors $proxy_us $backend_us" >>"$out"
}

# --- 2. build ----------------------------------------------------------------
for t in $TARGETS; do
	case $t in
	direct | nginx | bluegreen) ;;
	*) die "unknown target $t in BENCH_TARGETS (known: direct nginx bluegreen)" ;;
	esac
done
install_tools
command -v go >/dev/null || die "go is not on PATH"

TMP=$(mktemp -d -t bluegreen-bench.XXXXXX)
log "work dir $TMP"

want() { [[ " $TARGETS " == *" $1 "* ]]; }

log "building backend"
(cd "$ROOT" && go build -o "$TMP/backend" ./bench/router/backend)
if ((IDLE > 0)); then
	(cd "$ROOT" && go build -o "$TMP/idle" ./bench/router/idle)
	ulimit -n $((IDLE + 4096)) || die "cannot raise the open-file limit for $IDLE idle connections"
fi
if want bluegreen && [[ -n ${BLUEGREEN_BIN:-} ]]; then
	cp "$BLUEGREEN_BIN" "$TMP/bluegreen" || die "cannot copy BLUEGREEN_BIN=$BLUEGREEN_BIN"
elif want bluegreen; then
	log "building bluegreen"
	(cd "$ROOT" && go build -o "$TMP/bluegreen" ./cmd/bluegreen) ||
		die "cannot build ./cmd/bluegreen (run with BENCH_TARGETS=\"direct nginx\" to skip it)"
fi

# --- 3. start ----------------------------------------------------------------
free_port BACKEND_PORT
declare -A PORT=([direct]=$BACKEND_PORT)

BACKEND_ENV=()
((BACKEND_PROCS > 0)) && BACKEND_ENV=(GOMAXPROCS="$BACKEND_PROCS")
env "${BACKEND_ENV[@]}" "$TMP/backend" -listen "127.0.0.1:$BACKEND_PORT" >"$TMP/backend.log" 2>&1 &
PIDS+=($!)
declare -A PROC=([direct]=$!)
BACKEND_PID=$!
wait_ok backend "$BACKEND_PORT" "$!"
log "backend on 127.0.0.1:$BACKEND_PORT"

if want nginx; then
	free_port NGINX_PORT
	PORT[nginx]=$NGINX_PORT
	NGX=$TMP/nginx
	mkdir -p "$NGX/logs" "$NGX/tmp"
	# Workers run as nobody when the master is root; they must reach the prefix.
	chmod 0755 "$TMP" "$NGX" "$NGX/logs" "$NGX/tmp"
	cat >"$NGX/nginx.conf" <<-EOF
		daemon off;
		worker_processes auto;
		pid $NGX/nginx.pid;
		error_log $NGX/logs/error.log warn;
		worker_rlimit_nofile 65536;
		events { worker_connections 32768; }
		http {
		    access_log off;
		    client_body_temp_path $NGX/tmp/body;
		    proxy_temp_path $NGX/tmp/proxy;
		    fastcgi_temp_path $NGX/tmp/fastcgi;
		    uwsgi_temp_path $NGX/tmp/uwsgi;
		    scgi_temp_path $NGX/tmp/scgi;
		    keepalive_requests 1000000;
		    upstream backend {
		        server 127.0.0.1:$BACKEND_PORT;
		        keepalive 64;
		        keepalive_requests 1000000;
		    }
		    server {
		        listen 127.0.0.1:${PORT[nginx]};
		        location / {
		            proxy_pass http://backend;
		            proxy_http_version 1.1;
		            proxy_set_header Connection "";
		            proxy_set_header Host \$host;
		            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
		            proxy_set_header X-Forwarded-Proto \$scheme;
		            proxy_set_header X-Forwarded-Host \$host;
		        }
		    }
		}
	EOF
	nginx -p "$NGX" -c "$NGX/nginx.conf" -t >"$NGX/logs/configtest.log" 2>&1 ||
		die "nginx config test failed: $(cat "$NGX/logs/configtest.log")"
	nginx -p "$NGX" -c "$NGX/nginx.conf" >"$TMP/nginx.log" 2>&1 &
	PIDS+=($!)
	PROC[nginx]=$!
	wait_ok nginx "${PORT[nginx]}" "$!"
	log "nginx $(nginx -v 2>&1 | sed 's/.*\///') on 127.0.0.1:${PORT[nginx]}"
fi

if want bluegreen; then
	# The idle slot (green) gets its own backend: a backend belongs to one
	# slot. It takes no traffic; only health checks.
	free_port GREEN_PORT
	env "${BACKEND_ENV[@]}" "$TMP/backend" -listen "127.0.0.1:$GREEN_PORT" >"$TMP/backend-green.log" 2>&1 &
	PIDS+=($!)
	wait_ok backend-green "$GREEN_PORT" "$!"
	free_port BLUEGREEN_PORT
	PORT[bluegreen]=$BLUEGREEN_PORT
	free_port PREVIEW_PORT
	free_port ADMIN_PORT
	random_secret "$TMP/admin.token"
	random_secret "$TMP/preview.secret"
	cat >"$TMP/bluegreen.yaml" <<-EOF
		app: bench
		listen: 127.0.0.1:${PORT[bluegreen]}
		preview_listen: 127.0.0.1:$PREVIEW_PORT
		admin_listen: 127.0.0.1:$ADMIN_PORT
		state: $TMP/state.db
		admin_token_file: $TMP/admin.token
		driver: { kind: static, static: { blue: ["127.0.0.1:$BACKEND_PORT"], green: ["127.0.0.1:$GREEN_PORT"] } }
		health: { path: / }
		routing: { preview_header: { name: X-Canary-Version, value_file: $TMP/preview.secret } }
		limits: { max_connections: 32768 }
	EOF
	BLUEGREEN_ENV=()
	((BLUEGREEN_PROCS > 0)) && BLUEGREEN_ENV=(GOMAXPROCS="$BLUEGREEN_PROCS")
	env "${BLUEGREEN_ENV[@]}" "$TMP/bluegreen" serve -c "$TMP/bluegreen.yaml" >"$TMP/bluegreen.log" 2>&1 &
	PIDS+=($!)
	PROC[bluegreen]=$!
	wait_ok bluegreen "${PORT[bluegreen]}" "$!"
	log "bluegreen on 127.0.0.1:${PORT[bluegreen]}"
fi

# --- 4. measure --------------------------------------------------------------
LOADAVG=$(cut -d' ' -f1-3 /proc/loadavg)
log "wrk -t$THREADS -c$CONNS -d$DURATION --latency (warm-up $WARMUP), $ROUNDS round(s), on $(nproc) cores, load average before: $LOADAVG"
for ((round = 1; round <= ROUNDS; round++)); do
	for t in $TARGETS; do
		log "round $round: $t"
		bench "$t" "${PORT[$t]}" "$TMP/runs-$t.txt"
	done
done

# rss_kib PID prints the resident memory (KiB) of PID and its direct
# children (nginx's workers).
rss_kib() {
	local pid total=0 t
	for pid in "$1" $(pgrep -P "$1" || true); do
		t=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null) || t=0
		total=$((total + ${t:-0}))
	done
	echo "$total"
}

# Memory with IDLE idle keep-alive client connections, per proxy.
: >"$TMP/idle.txt"
if ((IDLE > 0)); then
	for t in $TARGETS; do
		[[ $t == direct ]] && continue
		before=$(rss_kib "${PROC[$t]}")
		"$TMP/idle" -target "127.0.0.1:${PORT[$t]}" -conns "$IDLE" >"$TMP/idle-$t.txt" 2>&1 &
		IDLE_PID=$!
		PIDS+=("$IDLE_PID")
		for ((i = 0; i < 600; i++)); do
			grep -q '^ready' "$TMP/idle-$t.txt" && break
			kill -0 "$IDLE_PID" 2>/dev/null || die "idle clients for $t failed: $(cat "$TMP/idle-$t.txt")"
			sleep 0.1
		done
		sleep 2
		during=$(rss_kib "${PROC[$t]}")
		kill -TERM "$IDLE_PID" 2>/dev/null || true
		wait "$IDLE_PID" 2>/dev/null || true
		echo "$t $before $during" >>"$TMP/idle.txt"
		log "$t: RSS $before KiB, with $IDLE idle connections $during KiB"
	done
fi

# --- 5. report ---------------------------------------------------------------
# The median round by req/s, per target: "target rps p50 p99 errors".
: >"$TMP/results.txt"
for t in $TARGETS; do
	sort -n -k1,1 "$TMP/runs-$t.txt" | awk -v t="$t" '{ l[NR] = $0 } END { print t, l[int((NR + 1) / 2)] }' >>"$TMP/results.txt"
done

awk -v threads="$THREADS" -v conns="$CONNS" -v dur="$DURATION" '
	{ name[NR] = $1; rps[$1] = $2; p50[$1] = $3; p99[$1] = $4; err[$1] = $5; pcpu[$1] = $6; bcpu[$1] = $7 }
	END {
		printf "\n%-10s %10s %8s %8s %7s %14s %16s\n", "target", "req/s", "p50 ms", "p99 ms", "errors", "proxy CPU/req", "backend CPU/req"
		for (i = 1; i <= NR; i++) {
			t = name[i]
			printf "%-10s %10.0f %8.3f %8.3f %7d %14s %16s\n", t, rps[t], p50[t], p99[t], err[t], (t == "direct" ? "-" : pcpu[t] " us"), bcpu[t] " us"
		}
		if ("bluegreen" in rps) {
			printf "\n"
			if ("nginx" in rps) printf "bluegreen/nginx  req/s %.2fx\n", rps["bluegreen"] / rps["nginx"]
			if ("direct" in rps) printf "bluegreen/direct req/s %.2fx\n", rps["bluegreen"] / rps["direct"]
		}
		printf "\n(wrk -t%s -c%s -d%s, path %s%s, loopback)\n", threads, conns, dur, path, (noka == 1 ? ", Connection: close" : "")
	}' path="$URLPATH" noka="$CLOSE" "$TMP/results.txt"
if [[ -s $TMP/idle.txt ]]; then
	awk -v n="$IDLE" '{ printf "%-10s RSS %7d KiB, with %d idle connections %7d KiB (%.1f KiB per connection)\n", $1, $2, n, $3, ($3 - $2) / n }' "$TMP/idle.txt"
fi

if [[ -n ${BENCH_OUT:-} ]]; then
	awk -v threads="$THREADS" -v conns="$CONNS" -v dur="$DURATION" -v warm="$WARMUP" -v rounds="$ROUNDS" \
		-v date="$(date -u +%Y-%m-%dT%H:%M:%SZ)" -v cpus="$(nproc)" \
		-v cpu="$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo)" \
		-v nginxv="$(command -v nginx >/dev/null && nginx -v 2>&1 | sed 's/.*\///')" \
		-v wrkv="$(wrk -v 2>&1 | awk 'NR == 1 {print $2}')" -v gov="$(go env GOVERSION)" -v loadavg="$LOADAVG" '
		{ name[NR] = $1; rps[$1] = $2; p50[$1] = $3; p99[$1] = $4; err[$1] = $5; pcpu[$1] = $6; bcpu[$1] = $7 }
		END {
			printf "{\n  \"date\": \"%s\",\n  \"machine\": {\"cpus\": %d, \"cpu\": \"%s\", \"loadavg_before\": \"%s\"},\n", date, cpus, cpu, loadavg
			printf "  \"versions\": {\"go\": \"%s\", \"nginx\": \"%s\", \"wrk\": \"%s\"},\n", gov, nginxv, wrkv
			printf "  \"wrk\": {\"threads\": %d, \"connections\": %d, \"duration\": \"%s\", \"warmup\": \"%s\", \"rounds\": %d},\n", threads, conns, dur, warm, rounds
			printf "  \"results\": ["
			for (i = 1; i <= NR; i++) {
				t = name[i]
				printf "%s\n    {\"target\": \"%s\", \"requests_per_sec\": %.2f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"errors\": %d, \"proxy_cpu_us_per_req\": %s, \"backend_cpu_us_per_req\": %s}", (i > 1 ? "," : ""), t, rps[t], p50[t], p99[t], err[t], (t == "direct" ? "null" : pcpu[t]), bcpu[t]
			}
			printf "\n  ],\n  \"ratios\": {"
			sep = ""
			if (("bluegreen" in rps) && ("nginx" in rps)) { printf "\"bluegreen_nginx\": %.3f", rps["bluegreen"] / rps["nginx"]; sep = ", " }
			if (("bluegreen" in rps) && ("direct" in rps)) printf "%s\"bluegreen_direct\": %.3f", sep, rps["bluegreen"] / rps["direct"]
			printf "}\n}\n"
		}' "$TMP/results.txt" >"$BENCH_OUT"
	log "wrote $BENCH_OUT"
fi
