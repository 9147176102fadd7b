#!/usr/bin/env bash
# bench/slowloris/run.sh: 16 keep-alive clients' p99 latency through
# bluegreen's production listener (limits.max_connections 256) on a quiet
# listener, then while 1,000 slowloris connections press on it; prints
# each round and the median ratio attack/quiet. Without the race detector.
# See bench/README.md.
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=${BENCH_ROUNDS:-5}
phase=${BENCH_PHASE:-4s}
out=${BENCH_OUT:-}

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
go test -c -o "$tmp/server.test" ./internal/server/

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
BENCH_PHASE=$phase "$tmp/server.test" -test.run '^$' -test.bench '^BenchmarkSlowloris$' \
	-test.benchtime 1x -test.count "$rounds" | tee "$tmp/raw.txt" | grep '^BenchmarkSlowloris' >"$tmp/rounds.txt" || {
	cat "$tmp/raw.txt"
	exit 1
}
echo "load average after:  $(cut -d' ' -f1-3 /proc/loadavg)"

# One line per round: the value before each unit.
awk '
function v(name,   i) { for (i = 1; i < NF; i++) if ($(i + 1) == name) return $i; return "" }
{
	printf "round %d: quiet p99 %7.2f ms (%6.0f req/s)  attacked p99 %7.2f ms (%6.0f req/s)  ratio %5.2fx  evicted %5.0f/s  failed %d\n",
		NR, v("quiet-p99-ms"), v("quiet-req/s"), v("attack-p99-ms"), v("attack-req/s"), v("p99-ratio"), v("evicted/s"), v("failed")
	print v("p99-ratio") >> "'"$tmp/ratios"'"
	failed += v("failed")
}
END { print failed > "'"$tmp/failed"'" }' "$tmp/rounds.txt"
median=$(sort -g "$tmp/ratios" | awk '{a[NR] = $1} END {print (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2}')
failed=$(cat "$tmp/failed")
echo "median p99 ratio (attacked/quiet) over $rounds rounds: ${median}x; failed requests: $failed"
if [[ -n $out ]]; then
	printf '{"rounds": %d, "phase": "%s", "median_p99_ratio": %s, "failed": %d}\n' "$rounds" "$phase" "$median" "$failed" >"$out"
fi
