#!/usr/bin/env bash
# capture-metrics.sh: record which Prometheus metric names and labels the
# real otelcol-ebpfred produces through its prometheus exporter, for the
# dashboard test (distribution/dashboard_test.go), which refuses a panel
# that queries a name or a label not in this capture.
#
#   sudo scripts/capture-metrics.sh [OUTPUT]
#
# OUTPUT defaults to distribution/dashboards/testdata/metrics.txt. Needs
# root (the collector loads eBPF programs), Go, python3 and curl. It builds
# the collector with `make build` unless OTELCOL_EBPFRED names a binary.
#
# What it runs, all on 127.0.0.1 with ports chosen free at run time:
#   - the collector, with two ebpfred receivers: one selects the servers by
#     their ports (server metrics), one the clients by executable (client
#     metrics), so that every metric family gets points;
#   - `python3 -m http.server` (HTTP/1.1 server), driven by curl (client):
#     200, 404, 501 (an error, so error_type appears) and a matched route;
#   - the repository's gRPC test server and client: OK and failing calls;
#   - a PostgreSQL server (Debian's postgresql, a cluster in the temporary
#     directory, run as nobody), driven by psql (client): a query that
#     succeeds and one that fails;
#   - a Kafka broker (franz-go's kfake, goapps/kafkabroker) driven by
#     goapps/kafkaclient (client): produces and fetches, one failing.
# Then it scrapes the prometheus exporter and writes, per metric name, the
# union of the label names seen on its series: values (pids, instance ids,
# ports) change from run to run, names and labels do not.
set -euo pipefail

cd "$(dirname "$0")/.."
out=${1:-distribution/dashboards/testdata/metrics.txt}

if [ "$(id -u)" != 0 ]; then
	echo "capture-metrics.sh: the collector loads eBPF programs, which needs root; try: sudo $0" >&2
	exit 1
fi
for tool in go python3 curl setpriv; do
	command -v "$tool" >/dev/null || { echo "capture-metrics.sh: $tool not found" >&2; exit 1; }
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$pg_bin" ] || [ ! -x "$pg_bin/postgres" ] || [ ! -x "$pg_bin/psql" ]; then
	echo "capture-metrics.sh: no PostgreSQL server and psql in /usr/lib/postgresql/*/bin; apt-get install postgresql" >&2
	exit 1
fi

bin=${OTELCOL_EBPFRED:-}
if [ -z "$bin" ]; then
	make build >&2
	bin=bin/otelcol-ebpfred
fi

work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do
		kill "$p" 2>/dev/null || true
	done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_for FILE PATTERN SECONDS: wait until FILE contains PATTERN.
wait_for() {
	local i
	for ((i = 0; i < $3 * 10; i++)); do
		grep -q "$2" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	echo "capture-metrics.sh: timed out waiting for '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}

go build -o "$work/" ./internal/testserver/cmd/grpcserver ./internal/testserver/cmd/grpcclient >&2
(cd internal/testserver/goapps && go build -o "$work/" ./kafkabroker ./kafkaclient) >&2

http_port=$(free_port)
prom_port=$(free_port)
telemetry_port=$(free_port)
curl_path=$(readlink -f "$(command -v curl)")

# The gRPC server picks its own port and prints it.
"$work/grpcserver" >"$work/grpcserver.log" 2>&1 &
pids+=($!)
wait_for "$work/grpcserver.log" '^LISTENING ' 10
grpc_port=$(awk '/^LISTENING /{print $2; exit}' "$work/grpcserver.log")

# The broker prints its address and runs until its standard input closes:
# this script holds the fifo open until it exits.
mkfifo "$work/kafka.in"
"$work/kafkabroker" <"$work/kafka.in" >"$work/kafka.log" 2>&1 &
pids+=($!)
exec 9>"$work/kafka.in"
wait_for "$work/kafka.log" ':' 10
kafka_addr=$(head -n 1 "$work/kafka.log")

(cd "$work" && exec python3 -m http.server "$http_port" --bind 127.0.0.1) >"$work/http.log" 2>&1 &
pids+=($!)

# PostgreSQL refuses to run as root: its cluster belongs to nobody.
pg_port=$(free_port)
chmod 755 "$work"
mkdir -m 700 "$work/pg"
chown nobody:nogroup "$work/pg"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }
as_nobody "$pg_bin/initdb" -D "$work/pg" -U postgres -A trust --no-sync >"$work/initdb.log" 2>&1 ||
	{ cat "$work/initdb.log" >&2; exit 1; }
as_nobody "$pg_bin/postgres" -D "$work/pg" -p "$pg_port" -c listen_addresses=127.0.0.1 \
	-c unix_socket_directories= >"$work/postgres.log" 2>&1 &
pids+=($!)
wait_for "$work/postgres.log" 'ready to accept connections' 30

cat >"$work/config.yaml" <<EOF
receivers:
  ebpfred/servers:
    open_port: "$http_port,$grpc_port"
    metrics:
      interval: 1s
    routes:
      patterns: ["/users/{id}"]
  ebpfred/clients:
    executable_name: "^($curl_path|$work/grpcclient|$pg_bin/psql|$work/kafkaclient)\$"
    metrics:
      interval: 1s
exporters:
  prometheus:
    endpoint: 127.0.0.1:$prom_port
service:
  pipelines:
    metrics:
      receivers: [ebpfred/servers, ebpfred/clients]
      exporters: [prometheus]
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $telemetry_port
EOF

"$bin" --config "$work/config.yaml" >"$work/collector.log" 2>&1 &
pids+=($!)
wait_for "$work/collector.log" 'Everything is ready' 60
# Let discovery (every 1s) select the two servers.
sleep 3

base=http://127.0.0.1:$http_port
for path in / / /users/42 /missing; do
	curl -s -o /dev/null "$base$path"
done
curl -s -o /dev/null -X POST --data 'x=1' "$base/" # 501: a server error
"$work/grpcclient" -addr "127.0.0.1:$grpc_port" Unary:0:0 Unary:0:5 Unary:5:0 Unary:13:0 ServerStream:3 >/dev/null
# A failing query gives error_type and db_response_status_code (42P01).
"$pg_bin/psql" -X -q -d "host=127.0.0.1 port=$pg_port user=postgres dbname=postgres sslmode=disable" \
	-c 'SELECT 1' -c 'SELECT * FROM nope' >/dev/null 2>&1 || true

"$work/kafkaclient" "$kafka_addr" >"$work/kafkaclient.log" 2>&1 ||
	{ cat "$work/kafkaclient.log" >&2; exit 1; }

# Metrics are exported every second; give the last requests three intervals.
sleep 4
curl -sf "http://127.0.0.1:$prom_port/metrics" >"$work/metrics.prom"

python3 - "$work/metrics.prom" "$("$bin" --version)" >"$work/metrics.txt" <<'PY'
import re
import sys
from datetime import date

labels = {}
sample = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s')
label = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="(?:[^"\\]|\\.)*"')
for line in open(sys.argv[1]):
    if line.startswith("#") or not line.strip():
        continue
    m = sample.match(line)
    if not m:
        sys.exit("unparsed exposition line: " + line)
    labels.setdefault(m.group(1), set()).update(label.findall(m.group(2) or ""))

print("# Prometheus metric names and the label names seen on them, produced by")
print("# the real collector through its prometheus exporter; written by")
print("# scripts/capture-metrics.sh (%s, %s). Format: NAME LABEL,LABEL,..." % (sys.argv[2], date.today()))
for name in sorted(labels):
    print(name, ",".join(sorted(labels[name])))
PY

# A capture without the families the dashboard needs means the traffic was
# not seen: better no file than a misleading one.
for want in http_server_request_duration_seconds_bucket http_client_request_duration_seconds_bucket rpc_server_call_duration_seconds_bucket db_client_operation_duration_seconds_bucket messaging_client_operation_duration_seconds_bucket; do
	if ! grep -q "^$want " "$work/metrics.txt"; then
		echo "capture-metrics.sh: $want missing from the capture; collector log:" >&2
		cat "$work/collector.log" >&2
		exit 1
	fi
done
mkdir -p "$(dirname "$out")"
mv "$work/metrics.txt" "$out"
echo "wrote $out ($(grep -vc '^#' "$out") metric names)" >&2
