#!/usr/bin/env bash
# scripts/bench-redis.sh — what the ebpfred collector costs a Redis client
# (run by `make bench`).
#
# redis-server (Debian's, started here in a temporary directory, nothing
# saved) is driven by redis-benchmark (GET and SET, 8 connections) without
# and with pipelining (-P 1, -P 16), in alternating rounds WITHOUT and WITH
# the collector (bin/otelcol-ebpfred selecting redis-benchmark by its
# executable: the Redis parser follows the client side). A fresh collector
# is started for every WITH round. The machine is noisy: the ratio is the
# median of paired rounds.
#
# Prints a Markdown table and appends it to BENCHMARKS.md.
#
# Environment:
#   BENCH_ROUNDS=3           rounds of each kind, per pipeline depth
#   BENCH_REDIS_N=300000     requests per redis-benchmark test at -P 1
#                            (×10 at -P 16)
#   BENCH_COLLECTOR=bin/otelcol-ebpfred
#   BENCH_METRICS_PORT=      the collector's own Prometheus endpoint (a
#                            free port when unset)
#   BENCH_WARMUP=3           seconds between collector start and measuring
#   BENCH_APPEND=0           do not append to BENCHMARKS.md
#   BENCH_OUT=BENCHMARKS.md
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

ROUNDS=${BENCH_ROUNDS:-3}
N=${BENCH_REDIS_N:-300000}
COLLECTOR=${BENCH_COLLECTOR:-bin/otelcol-ebpfred}
WARMUP=${BENCH_WARMUP:-3}
APPEND=${BENCH_APPEND:-1}
OUT=${BENCH_OUT:-BENCHMARKS.md}
CLIENTS=8

die() { echo "bench-redis: $*" >&2; exit 1; }
log() { echo "bench-redis: $*" >&2; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS=\"$ROUNDS\": want a positive integer"
[[ $N =~ ^[1-9][0-9]*$ ]] || die "BENCH_REDIS_N=\"$N\": want a positive integer"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP=\"$WARMUP\": want whole seconds"
for bin in redis-server redis-benchmark curl python3; do
	command -v "$bin" >/dev/null || die "$bin is not installed (apt-get install redis-server redis-tools curl python3)"
done
[ -x "$COLLECTOR" ] || die "$COLLECTOR not found: run make build first"
[ "$(id -u)" = 0 ] || die "the collector loads eBPF programs: run as root"
if ! mountpoint -q /sys/kernel/tracing; then
	log "mounting tracefs at /sys/kernel/tracing"
	mount -t tracefs nodev /sys/kernel/tracing
fi

METRICS_PORT=${BENCH_METRICS_PORT:-$(free_port)}
if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$METRICS_PORT/metrics"; then
	die "something already listens on 127.0.0.1:$METRICS_PORT: set BENCH_METRICS_PORT"
fi

TMP=$(mktemp -d /tmp/ebpfred-bench-redis.XXXXXX)
REDIS_PID=""
COLLECTOR_PID=""
cleanup() {
	local status=$1
	# Only the processes this script started, by pid.
	[ -n "$COLLECTOR_PID" ] && stop_pid "$COLLECTOR_PID"
	[ -n "$REDIS_PID" ] && stop_pid "$REDIS_PID"
	if [ "$status" = 0 ]; then
		rm -rf "$TMP"
	else
		log "config, logs and redis-benchmark outputs kept in $TMP"
	fi
}
trap 'cleanup $?' EXIT
trap 'exit 130' INT TERM

# --- redis-server ---------------------------------------------------------
REDIS_PORT=$(free_port)
mkdir -p "$TMP/redis"
redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$TMP/redis" --save "" --appendonly no \
	--daemonize no --loglevel warning >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
for ((i = 0; ; i++)); do
	if redis-cli -p "$REDIS_PORT" PING >/dev/null 2>&1; then break; fi
	kill -0 "$REDIS_PID" 2>/dev/null || die "redis-server exited: $(cat "$TMP/redis.log")"
	((i < 100)) || die "redis-server not answering on port $REDIS_PORT after 10 s"
	sleep 0.1
done
log "redis-server on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"

# --- collector ------------------------------------------------------------
CONFIG=$TMP/collector.yaml
write_config "$CONFIG" 'executable_name: "/redis-benchmark$$"'

# run_bench P FILE: redis-benchmark GET and SET at pipeline depth P; prints
# "rps requests" (the two tests' requests over their summed times).
run_bench() {
	local p=$1 n=$N
	((p > 1)) && n=$((N * 10))
	redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" -P "$p" -n "$n" -t get,set --csv >"$2" 2>&1 ||
		{ cat "$2" >&2; die "redis-benchmark failed"; }
	awk -F'"' -v n="$n" '$2 == "GET" || $2 == "SET" { t += n / $4; k++ } END {
		if (k != 2) { print "unparsable"; exit }
		printf "%.0f %d\n", 2 * n / t, 2 * n }' "$2"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } m = int((NR + 1) / 2); print (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2 }'; }
HZ=$(getconf CLK_TCK)
: >"$TMP/rounds" # P mode round rps requests collector_ticks
: >"$TMP/ebpfred-metrics"

log "warm-up"
redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" -n 50000 -t get,set -q >/dev/null

for p in 1 16; do
	for ((r = 1; r <= ROUNDS; r++)); do
		for mode in without with; do
			ticks=0
			if [ "$mode" = with ]; then
				start_collector "P$p-$r"
				c0=$(cpu_ticks "$COLLECTOR_PID")
			fi
			res=$(run_bench "$p" "$TMP/bench-P$p-$mode-$r.csv")
			[ "$res" = unparsable ] && { cat "$TMP/bench-P$p-$mode-$r.csv" >&2; die "cannot read redis-benchmark's output (above)"; }
			if [ "$mode" = with ]; then
				kill -0 "$COLLECTOR_PID" 2>/dev/null || { tail -n 30 "$TMP/collector-P$p-$r.log" >&2; die "the collector died (its log is above)"; }
				ticks=$(($(cpu_ticks "$COLLECTOR_PID") - c0))
				sleep 1 # the last events read
				curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" |
					grep -i ebpfred | grep -Ei 'redis|drop|unrecogn' | grep -Ev '^(#|target_info)' |
					sed "s/^/-P $p round $r: /" >>"$TMP/ebpfred-metrics" || true
				stop_pid "$COLLECTOR_PID"
				COLLECTOR_PID=""
			fi
			echo "$p $mode $r $res $ticks" >>"$TMP/rounds"
			log "-P $p round $r $mode: ${res%% *} req/s"
		done
	done
done

# --- report ---------------------------------------------------------------
row() {
	local p=$1 a b ratio req ticks cpu
	a=$(awk -v p="$p" '$1 == p && $2 == "without" { print $4 }' "$TMP/rounds" | median)
	b=$(awk -v p="$p" '$1 == p && $2 == "with" { print $4 }' "$TMP/rounds" | median)
	ratio=$(awk -v p="$p" '$1 == p && $2 == "without" { a[$3] = $4 } $1 == p && $2 == "with" && a[$3] > 0 { print $4 / a[$3] }' "$TMP/rounds" | median)
	req=$(awk -v p="$p" '$1 == p && $2 == "with" { s += $5 } END { print s + 0 }' "$TMP/rounds")
	ticks=$(awk -v p="$p" '$1 == p && $2 == "with" { s += $6 } END { print s + 0 }' "$TMP/rounds")
	cpu=$(awk -v t="$ticks" -v n="$req" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.2f", t / hz / n * 1e6; else print "–" }')
	printf '| -P %s | %.0f | %.0f | ×%.3f | %s |\n' "$p" "$a" "$b" "$ratio" "$cpu"
}
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit (dirty)"
{
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`scripts/bench-redis.sh\` (BENCH_ROUNDS=$ROUNDS BENCH_REDIS_N=$N)"
	echo
	echo "commit $commit; kernel $(uname -r); $(nproc) cores; $(redis-server --version | awk '{print $3}');" \
		"\`redis-benchmark -c $CLIENTS -t get,set -n $N\` (×10 requests at -P 16); $ROUNDS rounds each, interleaved;" \
		"collector \`$COLLECTOR\` (restarted per round) selecting redis-benchmark (the client side) → debug exporter."
	echo
	echo "| pipeline | without, req/s (median) | with, req/s (median) | throughput ratio (median of paired rounds) | collector CPU per request, µs |"
	echo "|---|---:|---:|---:|---:|"
	row 1
	row 16
	echo
	echo "<details><summary>rounds</summary>"
	echo
	echo "| -P | mode | round | req/s | requests | collector CPU ticks |"
	echo "|---:|---|---:|---:|---:|---:|"
	awk '{ printf "| %s | %s | %s | %s | %s | %s |\n", $1, $2, $3, $4, $5, $6 }' "$TMP/rounds"
	if [ -s "$TMP/ebpfred-metrics" ]; then
		echo
		echo "ebpfred self-telemetry (redis, drops, unrecognised) at the end of each WITH round:"
		echo
		echo '```'
		cat "$TMP/ebpfred-metrics"
		echo '```'
	fi
	echo
	echo "</details>"
	echo
} >"$TMP/report.md"

echo
cat "$TMP/report.md"
if [ "$APPEND" != 0 ]; then
	if [ ! -f "$OUT" ]; then
		# shellcheck disable=SC2016 # backquotes are Markdown
		printf '# Benchmarks\n\nAppended by `make bench` (scripts/bench.sh, scripts/bench-redis.sh). Newest last.\n\n' >"$OUT"
	fi
	cat "$TMP/report.md" >>"$OUT"
	log "appended to $OUT"
fi
