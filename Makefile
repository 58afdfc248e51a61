# ebpfred: build the otelcol-ebpfred collector distribution, test, run.
# `make help` lists the targets.

# Only the module proxy: a fallback to direct VCS access fails here with a
# DNS error that hides the real cause (see shared/VERSIONS.md).
export GOPROXY := https://proxy.golang.org

GO          ?= go
OCB_VERSION := v0.159.0
TOOLS_DIR   := bin/tools
# The version is in the file name so that bumping OCB_VERSION reinstalls it.
OCB         := $(TOOLS_DIR)/ocb-$(OCB_VERSION)
DIST        := bin/otelcol-ebpfred
DIST_CONFIG := distribution/config.yaml

# What the distribution binary is built from: our non-test Go sources, the
# committed bpf2go objects it embeds, the module files and the ocb config.
# bin/ holds ocb's generated module and is not a source.
GO_SOURCES := $(shell find . \( -path ./bin -o -path ./.git \) -prune -o \
	\( -name '*.go' ! -name '*_test.go' -o -name '*.o' \) -type f -print)

.DEFAULT_GOAL := build

.PHONY: help
help:
	@echo 'make build     build $(DIST) with ocb $(OCB_VERSION) (only when a source changed)'
	@echo 'make run       build, then run $(DIST) --config $(DIST_CONFIG) (needs root)'
	@echo 'make test      build, then go test -count=1 -timeout 40m ./... (root-only tests skip otherwise)'
	@echo 'make test-kernels  boot Debian 5.10, 6.1 and 6.12 kernels in QEMU and run the kernel smoke in each (and on this kernel)'
	@echo 'make bench     build, then scripts/bench.sh for HTTP/1.1 (wrk), HTTP/2 (h2load) and HTTPS (wrk), scripts/bench-redis.sh for Redis'
	@echo 'make generate  go generate ./... (bpf2go; needs clang)'
	@echo 'make fuzz      run every fuzz target for FUZZTIME (default 10s) each'
	@echo 'make fmt | vet | clean'

.PHONY: build
build: $(DIST)

$(OCB):
	@mkdir -p $(TOOLS_DIR)
	GOBIN=$(abspath $(TOOLS_DIR)) $(GO) install go.opentelemetry.io/collector/cmd/builder@$(OCB_VERSION)
	mv $(TOOLS_DIR)/builder $@

# ocb writes its generated module (main.go, components.go, go.mod) to bin/,
# runs go mod tidy there and compiles $(DIST).
$(DIST): $(OCB) builder-config.yaml go.mod go.sum $(GO_SOURCES)
	$(OCB) --config builder-config.yaml
	@touch $@

.PHONY: run
run: build
	@if [ "$$(id -u)" != 0 ]; then \
		echo 'make run: ebpfred loads eBPF programs, which needs root; try: sudo make run' >&2; \
	fi
	$(DIST) --config $(DIST_CONFIG)

# The distribution tests run `validate` and `components` on the built
# binary: build first so that they never skip here.
.PHONY: test
test: build
	$(GO) test -count=1 -timeout 40m ./...

# The kernel matrix (scripts/test-kernels.sh): every program's verifier
# budget and the receiver's smoke inside Debian's 5.10, 6.1 and 6.12 kernels
# (QEMU, software emulation) and on this machine's kernel. Needs
# qemu-system-x86, busybox-static and cpio; the kernels are downloaded once
# into bin/kernels.
.PHONY: test-kernels
test-kernels:
	bash scripts/test-kernels.sh

# scripts/bench.sh drives the built collector: nginx under wrk (HTTP/1.1)
# under h2load (cleartext HTTP/2) and under wrk over HTTPS (TLS probes),
# each without and with the collector; scripts/bench-redis.sh: redis-benchmark
# -P 1 and -P 16 (the Redis client side), without and with it;
# results are appended to BENCHMARKS.md.
.PHONY: bench
bench: build
	BENCH_MODE=http1 bash scripts/bench.sh
	BENCH_MODE=h2c bash scripts/bench.sh
	BENCH_MODE=https bash scripts/bench.sh
	bash scripts/bench-redis.sh

# Every fuzz target (func FuzzXxx in a _test.go file: parsers of wire data,
# kernel records, binaries of instrumented processes, cgroup paths, routes,
# configuration), each for FUZZTIME beyond its seed corpus. Found by name,
# so that a new protocol package's target is fuzzed without a line here.
# CI runs it.
FUZZTIME ?= 10s
# A run the go tool ends with "context deadline exceeded" and no failing
# input (its time ran out while it was still measuring the corpus's
# coverage: a known fault of the tool, not a finding) is run again, at
# most three times; any failing input fails at once.
FUZZLOG ?= /tmp/ebpfred-fuzz.log

.PHONY: fuzz
fuzz:
	@set -e; grep -rHo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*' internal receiver cmd | sort | \
	while IFS=: read -r file fn; do \
		pkg=$$(dirname "$$file"); fn=$${fn#func }; \
		for try in 1 2 3; do \
			echo "fuzz $$pkg $$fn ($(FUZZTIME), try $$try)"; \
			if $(GO) test -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) ./$$pkg >$(FUZZLOG) 2>&1; then \
				tail -1 $(FUZZLOG); break; \
			fi; \
			cat $(FUZZLOG); \
			if grep -q 'Failing input written to\|panic:' $(FUZZLOG) || ! grep -q 'context deadline exceeded' $(FUZZLOG) || [ $$try = 3 ]; then \
				exit 1; \
			fi; \
			echo "fuzz: the go tool's own deadline, no failing input: again"; \
		done; \
	done

.PHONY: generate
generate:
	$(GO) generate ./...

.PHONY: fmt
fmt:
	$(GO) fmt ./...

.PHONY: vet
vet:
	$(GO) vet ./...

.PHONY: clean
clean:
	rm -rf bin
