# scripts/bench-lib.sh — what the benchmark scripts share (sourced by
# bench.sh and bench-redis.sh). The sourcing script defines die and log, and
# sets COLLECTOR, CONFIG, METRICS_PORT, TMP and WARMUP before it calls
# start_collector; COLLECTOR_PID is set here.

# stop_pid PID: SIGTERM, then SIGKILL after 15 s.
stop_pid() {
	local pid=$1 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
		sleep 0.1
	done
	log "pid $pid ignored SIGTERM for 15 s: killing it"
	kill -KILL "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

# cpu_ticks PID: utime+stime of the whole process, in clock ticks.
cpu_ticks() {
	local stat f
	stat=$(<"/proc/$1/stat") || return 1
	# Fields after the command name, which may contain spaces: state is
	# f[0], utime f[11], stime f[12].
	read -ra f <<<"${stat##*) }"
	echo $((f[11] + f[12]))
}

vm_hwm_kib() { awk '/^VmHWM:/ {print $2}' "/proc/$1/status"; }

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# write_config FILE RECEIVER_LINE: a collector configuration whose ebpfred
# receiver has the one setting RECEIVER_LINE (e.g. 'open_port: "8080"'),
# both pipelines into cheap sinks (the benchmarks measure capture, not
# export) and the collector's own telemetry on METRICS_PORT.
write_config() {
	cat >"$1" <<CONF
receivers:
  ebpfred:
    $2
exporters:
  # Cheap sinks: the benchmark measures capture, not export.
  debug:
    verbosity: basic
    sampling_initial: 1
    sampling_thereafter: 1000
service:
  telemetry:
    logs:
      level: info
    metrics:
      level: detailed
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: $METRICS_PORT
  pipelines:
    traces:
      receivers: [ebpfred]
      exporters: [debug]
    metrics:
      receivers: [ebpfred]
      exporters: [debug]
CONF
}

# start_collector TAG: start it and wait until its telemetry answers and the
# probes had WARMUP seconds to find what they select.
start_collector() {
	local tag=$1 i
	"$COLLECTOR" --config "$CONFIG" >"$TMP/collector-$tag.log" 2>&1 &
	COLLECTOR_PID=$!
	for ((i = 0; ; i++)); do
		if curl -sf -o /dev/null --max-time 1 "http://127.0.0.1:$METRICS_PORT/metrics"; then break; fi
		if ! kill -0 "$COLLECTOR_PID" 2>/dev/null; then
			wait "$COLLECTOR_PID" 2>/dev/null || true
			COLLECTOR_PID=""
			tail -n 30 "$TMP/collector-$tag.log" >&2
			die "the collector exited during start-up (its log is above; config: $CONFIG)"
		fi
		((i < 300)) || die "the collector's telemetry did not answer on :$METRICS_PORT within 30 s"
		sleep 0.1
	done
	sleep "$WARMUP"
	kill -0 "$COLLECTOR_PID" 2>/dev/null || {
		tail -n 30 "$TMP/collector-$tag.log" >&2
		die "the collector exited after start-up (its log is above)"
	}
}
