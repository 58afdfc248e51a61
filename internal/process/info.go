// Package process describes an instrumented process: the identity its
// telemetry is reported under.
package process

// Info is what telemetry builders need to know about an instrumented process.
// Discovery owns and fills it; builders only read it.
type Info struct {
	PID              uint32
	ServiceName      string // config → OTEL_SERVICE_NAME → executable name
	ServiceNamespace string
	InstanceID       string // service.instance.id, unique per process start
	ExecutableName   string // base name of the executable
	ExecutablePath   string
	Command          string // argv[0]
	// StartTimeUnixNano is when the process started (used as a stable
	// start time for its cumulative metrics when later than the receiver's).
	StartTimeUnixNano uint64
	// Extra resource attributes (container.id, k8s.*, ...), already in
	// semconv key form.
	Extra map[string]string
}
