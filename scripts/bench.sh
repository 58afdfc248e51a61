#!/usr/bin/env bash
# scripts/bench.sh — what the ebpfred collector costs an instrumented server
# (run by `make bench`).
#
# nginx (1 worker, `return 200 "ok"`, keep-alive, 127.0.0.1) is driven by
# `wrk -t1 -c8 -d<duration> --latency` in alternating rounds WITHOUT and WITH
# the collector (bin/otelcol-ebpfred with a generated config selecting nginx's
# port), A/B interleaved because the machine is noisy. A fresh collector is
# started for every WITH round and measured only while wrk runs.
#
# Each round also measures the tax on a process the collector never
# selects: internal/testserver/cmd/taxloop's nanoseconds per system call,
# file I/O (read /dev/zero, write /dev/null) and 1-byte TCP sends and
# receives on loopback, with and without the collector running.
#
# Prints a Markdown table and appends it to BENCHMARKS.md.
#
# Environment:
#   BENCH_ROUNDS=5          rounds of each kind
#   BENCH_DURATION=10s      wrk duration per round (10 means 10s)
#   BENCH_COLLECTOR=bin/otelcol-ebpfred
#   BENCH_CONFIG=file       collector config to use instead of the generated
#                           one; it may use ${env:BENCH_NGINX_PORT} and
#                           ${env:BENCH_METRICS_PORT}
#   BENCH_METRICS_PORT=8888 the collector's own Prometheus endpoint
#   BENCH_WARMUP=3          seconds between collector start and measuring
#   BENCH_BASELINE_ONLY=1   WITHOUT rounds only (no collector, no root needed)
#   BENCH_APPEND=0          do not append to BENCHMARKS.md
#   BENCH_OUT=BENCHMARKS.md
set -euo pipefail

cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/sbin:/sbin"

ROUNDS=${BENCH_ROUNDS:-5}
DURATION=${BENCH_DURATION:-10s}
COLLECTOR=${BENCH_COLLECTOR:-bin/otelcol-ebpfred}
METRICS_PORT=${BENCH_METRICS_PORT:-8888}
WARMUP=${BENCH_WARMUP:-3}
BASELINE_ONLY=${BENCH_BASELINE_ONLY:-0}
APPEND=${BENCH_APPEND:-1}
OUT=${BENCH_OUT:-BENCHMARKS.md}
WRK_ARGS=(-t1 -c8)
# BENCH_MODE=http1 (default): wrk, HTTP/1.1 keep-alive. h2c: nginx speaks
# cleartext HTTP/2 (prior knowledge) and h2load drives it: 8 connections,
# 10 concurrent streams each (h2load reports a mean latency, not
# percentiles: the p50 column then holds the mean, p99 is left empty).
# https: nginx with TLS (a self-signed certificate made with the openssl
# CLI, HTTP/1.1), wrk over https: the TLS probes (SSL_read/SSL_write
# uprobes + uretprobes) on top of the syscall capture.
MODE=${BENCH_MODE:-http1}
H2LOAD_ARGS=(-t1 -c8 -m10)

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }
# shellcheck source=scripts/bench-lib.sh
. scripts/bench-lib.sh
case $MODE in http1 | h2c | https) ;; *) die "BENCH_MODE=\"$MODE\": want http1, h2c or https" ;; esac

[[ $ROUNDS =~ ^[1-9][0-9]*$ ]] || die "BENCH_ROUNDS=\"$ROUNDS\": want a positive integer"
[[ $DURATION =~ ^[1-9][0-9]*$ ]] && DURATION="${DURATION}s"
[[ $DURATION =~ ^[1-9][0-9]*[smh]$ ]] || die "BENCH_DURATION=\"$DURATION\": want seconds like 10 or 10s"
[[ $WARMUP =~ ^[0-9]+$ ]] || die "BENCH_WARMUP=\"$WARMUP\": want whole seconds"
for bin in nginx wrk curl python3 $([ "$MODE" = h2c ] && echo h2load) $([ "$MODE" = https ] && echo openssl); do
	command -v "$bin" >/dev/null || die "$bin is not installed (apt-get install $bin)"
done
if [ "$BASELINE_ONLY" != 1 ]; then
	[ -x "$COLLECTOR" ] || die "$COLLECTOR not found: run make build first (or BENCH_BASELINE_ONLY=1 for nginx alone)"
	[ "$(id -u)" = 0 ] || die "the collector loads eBPF programs: run as root (or BENCH_BASELINE_ONLY=1)"
	if [ -n "${BENCH_CONFIG:-}" ] && [ ! -r "$BENCH_CONFIG" ]; then
		die "BENCH_CONFIG=$BENCH_CONFIG: cannot read it"
	fi
	if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$METRICS_PORT/metrics"; then
		die "something already listens on 127.0.0.1:$METRICS_PORT (another collector?): stop it or set BENCH_METRICS_PORT"
	fi
	if ! mountpoint -q /sys/kernel/tracing; then
		log "mounting tracefs at /sys/kernel/tracing"
		mount -t tracefs nodev /sys/kernel/tracing
	fi
fi

TMP=$(mktemp -d /tmp/ebpfred-bench.XXXXXX)
NGINX_PID=""
COLLECTOR_PID=""
cleanup() {
	local status=$1
	# Only the processes this script started, by pid.
	[ -n "$COLLECTOR_PID" ] && stop_pid "$COLLECTOR_PID"
	[ -n "$NGINX_PID" ] && stop_pid "$NGINX_PID"
	if [ "$status" = 0 ]; then
		rm -rf "$TMP"
	else
		log "configs, logs and wrk outputs kept in $TMP"
	fi
}
trap 'cleanup $?' EXIT
trap 'exit 130' INT TERM

# --- nginx ---------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$TMP/nginx"
TLS_CONF=""
if [ "$MODE" = https ]; then
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$TMP/nginx/key.pem" -out "$TMP/nginx/cert.pem" \
		-days 2 -subj /CN=localhost -addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1 ||
		die "openssl req failed"
	TLS_CONF="ssl_certificate $TMP/nginx/cert.pem; ssl_certificate_key $TMP/nginx/key.pem;"
fi
cat >"$TMP/nginx/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
pid $TMP/nginx/nginx.pid;
error_log stderr warn;
$([ "$(id -u)" = 0 ] && echo "user root;")
events { worker_connections 1024; }
http {
    access_log off;
    keepalive_timeout 120s;
    keepalive_requests 100000000;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT$([ "$MODE" = h2c ] && echo " http2")$([ "$MODE" = https ] && echo " ssl");
        $TLS_CONF
        default_type text/plain;
        location / { return 200 "ok"; }
    }
}
CONF
nginx -p "$TMP/nginx" -c "$TMP/nginx/nginx.conf" -e stderr >"$TMP/nginx.log" 2>&1 &
NGINX_PID=$!
URL="http://127.0.0.1:$NGINX_PORT/"
[ "$MODE" = https ] && URL="https://127.0.0.1:$NGINX_PORT/"
for ((i = 0; ; i++)); do
	if curl -ksf -o /dev/null --max-time 1 $([ "$MODE" = h2c ] && echo --http2-prior-knowledge) "$URL"; then break; fi
	kill -0 "$NGINX_PID" 2>/dev/null || die "nginx exited: $(cat "$TMP/nginx.log")"
	((i < 100)) || die "nginx not answering on $URL after 10 s: $(cat "$TMP/nginx.log")"
	sleep 0.1
done
NGINX_WORKER=$(tr ' ' '\n' <"/proc/$NGINX_PID/task/$NGINX_PID/children" | grep -m1 . || true)
[ -n "$NGINX_WORKER" ] || die "cannot find nginx's worker process (master pid $NGINX_PID)"
log "nginx on $URL (master $NGINX_PID, worker $NGINX_WORKER)"

# --- collector ----------------------------------------------------------
export BENCH_NGINX_PORT=$NGINX_PORT BENCH_METRICS_PORT=$METRICS_PORT
CONFIG=${BENCH_CONFIG:-$TMP/collector.yaml}
[ -n "${BENCH_CONFIG:-}" ] || write_config "$CONFIG" "open_port: \"$NGINX_PORT\""

# --- wrk ----------------------------------------------------------------
# run_wrk FILE: one wrk run; prints "rps p50_us p99_us requests".
run_wrk() {
	wrk "${WRK_ARGS[@]}" -d"$DURATION" --latency "$URL" >"$1" 2>&1 || {
		cat "$1" >&2
		die "wrk failed"
	}
	awk '
		function us(v) {
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return v * 1000
			if (v ~ /s$/)  return v * 1000000
			return v
		}
		/^ +50%/ { p50 = us($2) }
		/^ +99%/ { p99 = us($2) }
		/ requests in / { req = $1 }
		/^Requests\/sec:/ { rps = $2 }
		/Non-2xx or 3xx responses:/ { bad += $NF }
		/Socket errors:/ { bad += $4 + $6 + $8 + $10 }
		END {
			if (rps == "" || p99 == "" || req == "") { print "unparsable"; exit }
			if (bad > 0) { print "errors " bad; exit }
			printf "%.0f %.1f %.1f %d\n", rps, p50, p99, req
		}' "$1"
}

# run_h2load FILE: one h2load run; prints "rps mean_us nan requests".
run_h2load() {
	h2load "${H2LOAD_ARGS[@]}" -D "${DURATION%s}" "$URL" >"$1" 2>&1 || {
		cat "$1" >&2
		die "h2load failed"
	}
	awk '
		function us(v) {
			if (v ~ /us$/) return v + 0
			if (v ~ /ms$/) return v * 1000
			if (v ~ /s$/)  return v * 1000000
			return v
		}
		/^finished in/ { rps = $4 }
		/^requests:/ { req = $8; bad += $2 - $8 }
		/^status codes:/ { bad += $7 + $9 }
		/^time for request:/ { mean = us($6) }
		END {
			if (rps == "" || req == "") { print "unparsable"; exit }
			if (bad > 0) { print "errors " bad; exit }
			printf "%.0f %.1f nan %d\n", rps, mean, req
		}' "$1"
}

run_load() { if [ "$MODE" = h2c ]; then run_h2load "$1"; else run_wrk "$1"; fi; }

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) { print "nan"; exit } m = int((NR + 1) / 2); print (NR % 2) ? v[m] : (v[m] + v[m + 1]) / 2 }'; }

HZ=$(getconf CLK_TCK)
go build -o "$TMP/taxloop" ./internal/testserver/cmd/taxloop || die "building taxloop failed"
: >"$TMP/tax"             # mode round file_ns tcp_ns
: >"$TMP/rounds"          # mode round rps p50 p99 requests nginx_ticks
: >"$TMP/collector-rounds" # round ticks hwm_kib dropped
: >"$TMP/ebpfred-metrics"

log "warm-up: 2 s of load"
if [ "$MODE" = h2c ]; then h2load "${H2LOAD_ARGS[@]}" -D 2 "$URL" >/dev/null; else wrk -t1 -c8 -d2s "$URL" >/dev/null; fi

modes=(without with)
[ "$BASELINE_ONLY" = 1 ] && modes=(without)
for ((r = 1; r <= ROUNDS; r++)); do
	for mode in "${modes[@]}"; do
		if [ "$mode" = with ]; then start_collector "$r"; fi
		echo "$mode $r $("$TMP/taxloop" -mode file -n 300000 -rounds 3) $("$TMP/taxloop" -mode tcp -n 50000 -rounds 3)" >>"$TMP/tax"
		[ "$mode" = with ] && c0=$(cpu_ticks "$COLLECTOR_PID")
		n0=$(cpu_ticks "$NGINX_WORKER")
		res=$(run_load "$TMP/wrk-$mode-$r.txt")
		n1=$(cpu_ticks "$NGINX_WORKER")
		case $res in
		unparsable) cat "$TMP/wrk-$mode-$r.txt" >&2; die "cannot read wrk's output (above)" ;;
		errors*) cat "$TMP/wrk-$mode-$r.txt" >&2; die "wrk saw ${res#errors } failed or non-2xx responses (above)" ;;
		esac
		echo "$mode $r $res $((n1 - n0))" >>"$TMP/rounds"
		if [ "$mode" = with ]; then
			kill -0 "$COLLECTOR_PID" 2>/dev/null || {
				tail -n 30 "$TMP/collector-$r.log" >&2
				die "the collector died during round $r (its log is above)"
			}
			c1=$(cpu_ticks "$COLLECTOR_PID")
			hwm=$(vm_hwm_kib "$COLLECTOR_PID")
			curl -sf --max-time 5 "http://127.0.0.1:$METRICS_PORT/metrics" >"$TMP/metrics-$r.txt" || : >"$TMP/metrics-$r.txt"
			grep -i ebpfred "$TMP/metrics-$r.txt" | grep -Ev '^(#|target_info)' | sed "s/^/round $r: /" >>"$TMP/ebpfred-metrics" || true
			# the ring's drops only (a gauge such as the pid_drops map's
			# capacity has "drop" in its name too)
			dropped=$(awk '$1 ~ /^otelcol_ebpfred_events_dropped/ { s += $NF; n++ } END { print n ? s : "na" }' "$TMP/metrics-$r.txt")
			echo "$r $((c1 - c0)) $hwm $dropped" >>"$TMP/collector-rounds"
			stop_pid "$COLLECTOR_PID"
			COLLECTOR_PID=""
		fi
		read -r _ _ rps p50 p99 _ <<<"$(tail -n1 "$TMP/rounds")"
		log "round $r $mode: $rps req/s, p50 ${p50}µs, p99 ${p99}µs"
	done
done

# --- report -------------------------------------------------------------
col() { awk -v m="$1" -v c="$2" '$1 == m { print $c }' "$TMP/rounds"; }
sum() { awk '{ s += $1 } END { print s + 0 }'; }
rps_a=$(col without 3 | median); rps_b=$(col with 3 | median)
p50_a=$(col without 4 | median); p50_b=$(col with 4 | median)
p99_a=$(col without 5 | median); p99_b=$(col with 5 | median)
req_a=$(col without 6 | sum); req_b=$(col with 6 | sum)
ncpu_a=$(col without 7 | sum); ncpu_b=$(col with 7 | sum)

fmt() { awk -v x="$1" -v f="$2" 'BEGIN { if (x == "nan" || x == "") print "–"; else printf f, x }'; }
diff_() { awk -v a="$1" -v b="$2" -v f="$3" 'BEGIN { if (a == "nan" || b == "nan") print "–"; else printf f, b - a }'; }
per_req_us() { awk -v t="$1" -v n="$2" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.2f", t / hz / n * 1e6; else print "–" }'; }

# Throughput ratio: the median of the per-round ratios, each WITH round over
# the WITHOUT round just before it (paired, so slow phases of a noisy
# machine hit both sides of a pair).
ratio=$(awk '$1 == "without" { a[$2] = $3 } $1 == "with" && a[$2] > 0 { print $3 / a[$2] }' "$TMP/rounds" | median)
ratio=$(fmt "$ratio" %.3f)
if [ "$BASELINE_ONLY" = 1 ]; then
	coll_cpu="–"; coll_cpu_s="–"; hwm_mib="–"; dropped="–"
else
	ctick=$(awk '{ s += $2 } END { print s + 0 }' "$TMP/collector-rounds")
	coll_cpu=$(per_req_us "$ctick" "$req_b")
	coll_cpu_s=$(awk -v t="$ctick" -v n="$req_b" -v hz="$HZ" 'BEGIN { if (n > 0) printf "%.3g", t / hz / n; else print "–" }')
	hwm_mib=$(awk '$3 > m { m = $3 } END { printf "%.1f", m / 1024 }' "$TMP/collector-rounds")
	dropped=$(awk '$4 == "na" { na = 1 } $4 != "na" { s += $4 } END { print na ? "n/a (no otelcol_ebpfred_events_dropped exported)" : s }' "$TMP/collector-rounds")
fi

collector_desc=""
if [ "$BASELINE_ONLY" != 1 ]; then
	collector_desc="; collector \`$COLLECTOR\` (restarted per round) with "
	if [ -n "${BENCH_CONFIG:-}" ]; then
		collector_desc+="config \`$BENCH_CONFIG\`"
	else
		collector_desc+="the generated config (ebpfred open_port → debug exporter)"
	fi
fi
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit (dirty)"
cmdline="$(env | { grep -E '^BENCH_(MODE|ROUNDS|DURATION|COLLECTOR|CONFIG|WARMUP|BASELINE_ONLY)=' || true; } | sort | tr '\n' ' ')scripts/bench.sh"
cmdline=${cmdline% }

{
	echo "## $(date -u '+%Y-%m-%d %H:%M UTC') — \`$cmdline\`"
	echo
	[ "$BASELINE_ONLY" = 1 ] && echo "**Baseline only: no collector was run.**" && echo
	echo "commit $commit; kernel $(uname -r); $(nproc) cores; $(nginx -v 2>&1 | sed 's/.*: //'), 1 worker, \`return 200 \"ok\"\`;" \
		"$([ "$MODE" = h2c ] && echo "cleartext HTTP/2, \`h2load ${H2LOAD_ARGS[*]} -D ${DURATION%s}\` (p50 column: mean)" || echo "$([ "$MODE" = https ] && echo "HTTPS, ")\`wrk ${WRK_ARGS[*]} -d$DURATION --latency\`"); $ROUNDS rounds each, interleaved$collector_desc."
	echo
	echo "| | without | with | with − without |"
	echo "|---|---:|---:|---:|"
	echo "| throughput, req/s (median) | $(fmt "$rps_a" %.0f) | $(fmt "$rps_b" %.0f) | ×$ratio (median of paired rounds) |"
	echo "| latency p50, µs (median) | $(fmt "$p50_a" %.1f) | $(fmt "$p50_b" %.1f) | $(diff_ "$p50_a" "$p50_b" %+.1f) |"
	echo "| latency p99, µs (median) | $(fmt "$p99_a" %.1f) | $(fmt "$p99_b" %.1f) | $(diff_ "$p99_a" "$p99_b" %+.1f) |"
	a=$(per_req_us "$ncpu_a" "$req_a"); b=$(per_req_us "$ncpu_b" "$req_b")
	echo "| nginx worker CPU per request, µs | $a | $b | $(awk -v a="$a" -v b="$b" 'BEGIN { if (a == "–" || b == "–") print "–"; else printf "%+.2f", b - a }') |"
	echo "| collector CPU per request, s (µs) | – | $coll_cpu_s ($coll_cpu) | |"
	tf_a=$(awk '$1 == "without" { print $3 }' "$TMP/tax" | median); tf_b=$(awk '$1 == "with" { print $3 }' "$TMP/tax" | median)
	tt_a=$(awk '$1 == "without" { print $4 }' "$TMP/tax" | median); tt_b=$(awk '$1 == "with" { print $4 }' "$TMP/tax" | median)
	echo "| unselected process: file read/write, ns per call (median) | $(fmt "$tf_a" %.0f) | $(fmt "$tf_b" %.0f) | $(diff_ "$tf_a" "$tf_b" %+.0f) |"
	echo "| unselected process: loopback TCP send/recv, ns per call (median) | $(fmt "$tt_a" %.0f) | $(fmt "$tt_b" %.0f) | $(diff_ "$tt_a" "$tt_b" %+.0f) |"
	echo "| collector peak RSS (VmHWM), MiB | – | $hwm_mib | |"
	echo "| kernel-dropped events (all WITH rounds) | – | $dropped | |"
	echo
	echo "<details><summary>rounds</summary>"
	echo
	echo "| round | mode | req/s | p50 µs | p99 µs | requests |"
	echo "|---:|---|---:|---:|---:|---:|"
	awk '{ printf "| %s | %s | %s | %s | %s | %s |\n", $2, $1, $3, $4, $5, $6 }' "$TMP/rounds"
	if [ -s "$TMP/ebpfred-metrics" ]; then
		echo
		echo "ebpfred self-telemetry at the end of each WITH round:"
		echo
		echo '```'
		cat "$TMP/ebpfred-metrics"
		echo '```'
	elif [ "$BASELINE_ONLY" != 1 ]; then
		echo
		echo "The collector's telemetry (:$METRICS_PORT) had no ebpfred metric."
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
		printf '# Benchmarks\n\nAppended by `make bench` (scripts/bench.sh). Newest last.\n\n' >"$OUT"
	fi
	cat "$TMP/report.md" >>"$OUT"
	log "appended to $OUT"
fi
