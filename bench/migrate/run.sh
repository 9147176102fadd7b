#!/usr/bin/env bash
# Migration benchmark: a writer's latency while bluegreen's batched
# backfill runs, next to no migration and a naive whole-table UPDATE, on
# PostgreSQL. See bench/README.md for what it measures and how to read it.
#
# Environment (all optional):
#   BENCH_DATABASE_URL=postgres://…  use this server (a database bluegreen_bench_<pid>
#                         is created on it and dropped at the end; needs CREATEDB);
#                         unset: start a throwaway cluster in a temp dir
#   BENCH_ROWS=1000000    rows in customers
#   BENCH_RATE=200        writer UPDATEs per second (one connection)
#   BENCH_BASELINE=15s    baseline phase length
#   BENCH_AFTER=10s       baseline right after the backfill, on the same table
#   BENCH_BASELINE2=10s   baseline before the naive update, on the reseeded table
#   BENCH_SKIP_NAIVE=1    skip baseline2 and the naive update (tuning runs)
#   BENCH_BATCH_SIZE, BENCH_BATCH_TARGET   bluegreen migrate --batch-size / --batch-target
#                         (unset: bluegreen's defaults, 100 and 200ms)
#   BENCH_DUTY_CYCLE, BENCH_MAX_RATE   bluegreen migrate --duty-cycle / --max-rate
#                         (unset: bluegreen's defaults, 0.5 and no cap)
#   BENCH_PG_OPTS="-c …"  extra server options for the throwaway cluster (diagnosis only;
#                         the numbers of record use the server's defaults)
#   BENCH_TIMEOUT=15m     bound on the measuring program
#   BENCH_KEEP=1          keep the temp dir (migration files, migrate.log, server.log)
set -euo pipefail

ROWS=${BENCH_ROWS:-1000000}
RATE=${BENCH_RATE:-200}
BASELINE=${BENCH_BASELINE:-15s}
BASELINE2=${BENCH_BASELINE2:-10s}
AFTER=${BENCH_AFTER:-10s}
TIMEOUT=${BENCH_TIMEOUT:-15m}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PATH=$PATH:/usr/sbin:/sbin

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --- cleanup -----------------------------------------------------------------
TMP=
PGDATA_DIR=
PG_CTL=
AS_PG=()
WRITER_PID=
cleanup() {
	local rc=$? i
	if [[ -n $WRITER_PID ]] && kill -0 "$WRITER_PID" 2>/dev/null; then
		# SIGTERM lets it drop its database; SIGKILL after 10s.
		kill -TERM "$WRITER_PID" 2>/dev/null || true
		for ((i = 0; i < 100; i++)); do
			kill -0 "$WRITER_PID" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$WRITER_PID" 2>/dev/null || true
		wait "$WRITER_PID" 2>/dev/null || true
	fi
	if [[ -n $PGDATA_DIR && -f $PGDATA_DIR/postmaster.pid ]]; then
		"${AS_PG[@]}" "$PG_CTL" -D "$PGDATA_DIR" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			"${AS_PG[@]}" "$PG_CTL" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1 || true
	fi
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

TMP=$(mktemp -d "${TMPDIR:-/tmp}/bluegreen-bench-migrate.XXXXXX")
chmod 755 "$TMP"

# --- 1. build ----------------------------------------------------------------
command -v go >/dev/null || die "go not found"
log "building bluegreen and the writer"
(cd "$ROOT" && go build -o "$TMP/bluegreen" ./cmd/bluegreen && go build -o "$TMP/writer" ./bench/migrate/writer)

# --- 2. PostgreSQL -----------------------------------------------------------
find_pg_bin() {
	local d
	if command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
		dirname "$(readlink -f "$(command -v initdb)")"
		return
	fi
	for d in $(ls -d /usr/lib/postgresql/*/bin /usr/pgsql-*/bin 2>/dev/null | sort -t/ -k4 -Vr); do
		if [[ -x $d/initdb && -x $d/pg_ctl ]]; then
			echo "$d"
			return
		fi
	done
	return 1
}

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' 2>/dev/null ||
		echo $((20000 + RANDOM % 40000))
}

if [[ -n ${BENCH_DATABASE_URL:-} ]]; then
	URL=$BENCH_DATABASE_URL
	log "using the server in BENCH_DATABASE_URL"
else
	BIN=$(find_pg_bin) || die "initdb and pg_ctl not found (install the PostgreSQL server, or set BENCH_DATABASE_URL)"
	PG_CTL=$BIN/pg_ctl
	if ((EUID == 0)); then
		id postgres >/dev/null 2>&1 || die "running as root: initdb needs a postgres system user"
		AS_PG=(runuser -u postgres --)
	fi
	mkdir "$TMP/pg"
	((EUID == 0)) && chown postgres: "$TMP/pg"
	PGDATA_DIR=$TMP/pg/data
	log "initdb in $PGDATA_DIR ($("$BIN/postgres" --version))"
	"${AS_PG[@]}" "$BIN/initdb" -D "$PGDATA_DIR" -U postgres -A trust -E UTF8 --locale=C >"$TMP/initdb.log" 2>&1 ||
		die "initdb failed: $(tail -5 "$TMP/initdb.log")"
	# Server defaults on purpose (fsync, synchronous_commit, full_page_writes
	# on): this measures latency, and durability costs are part of it.
	for attempt in 1 2 3; do
		PORT=$(free_port)
		if "${AS_PG[@]}" "$PG_CTL" -D "$PGDATA_DIR" -l "$TMP/pg/server.log" -w -t 60 \
			-o "-p $PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$TMP/pg ${BENCH_PG_OPTS:-}" start >/dev/null; then
			break
		fi
		((attempt < 3)) || die "pg_ctl start failed: $(tail -5 "$TMP/pg/server.log")"
	done
	URL="postgres://postgres@127.0.0.1:$PORT/postgres?sslmode=disable"
	log "throwaway server on 127.0.0.1:$PORT"
fi

# --- 3. measure --------------------------------------------------------------
log "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'), load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
args=(-url "$URL" -bluegreen "$TMP/bluegreen" -work "$TMP" -rows "$ROWS" -rate "$RATE"
	-baseline "$BASELINE" -baseline2 "$BASELINE2" -after "$AFTER" -timeout "$TIMEOUT")
[[ ${BENCH_SKIP_NAIVE:-} == 1 ]] && args+=(-skip-naive)
[[ -n ${BENCH_BATCH_SIZE:-} ]] && args+=(-batch-size "$BENCH_BATCH_SIZE")
[[ -n ${BENCH_BATCH_TARGET:-} ]] && args+=(-batch-target "$BENCH_BATCH_TARGET")
[[ -n ${BENCH_DUTY_CYCLE:-} ]] && args+=(-duty-cycle "$BENCH_DUTY_CYCLE")
[[ -n ${BENCH_MAX_RATE:-} ]] && args+=(-max-rate "$BENCH_MAX_RATE")
"$TMP/writer" "${args[@]}" &
WRITER_PID=$!
wait "$WRITER_PID"
WRITER_PID=
log "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
log "migrate progress (last lines of migrate.log):"
tail -3 "$TMP/migrate.log" >&2 || true
