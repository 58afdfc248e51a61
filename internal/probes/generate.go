package probes

// One object per feature (see features.go): the core (socket capture and
// process life, required), TLS plaintext, Go routes, Go in-process context, and trace-context
// injection. They share their maps through the loader.
//
// The generated bindings (*_x86_bpfel.{go,o}) are committed so that `go
// build` and an ocb `gomod:` line work without clang. `make generate`
// rebuilds them with Debian's clang-19; CI fails when they are stale.
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -type event -go-package probes core ../../bpf/core.c -- -I../../bpf -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -go-package probes tls ../../bpf/tls.c -- -I../../bpf -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -go-package probes goroutes ../../bpf/goroutes.c -- -I../../bpf -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -go-package probes gocontext ../../bpf/gocontext.c -- -I../../bpf -I/usr/include/x86_64-linux-gnu
//go:generate go tool bpf2go -cc clang-19 -strip llvm-strip-19 -target amd64 -go-package probes prop ../../bpf/propagate.c -- -I../../bpf -I/usr/include/x86_64-linux-gnu
