// Package process describes an instrumented process: the identity its
// telemetry is reported under.
package process

// Info is what telemetry builders need to know about an instrumented process.
// Discovery owns and fills it; builders only read it.
type Info struct {
	PID uint32
	// ServiceName: the selecting discovery entry's name → the process's
	// OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES → the pod annotation
	// resource.opentelemetry.io/service.name → the pod's workload → the
	// executable name (see internal/discovery).
	ServiceName string
	// ServiceNamespace: entry → OTEL_RESOURCE_ATTRIBUTES → pod annotation
	// resource.opentelemetry.io/service.namespace → k8s.namespace.name.
	ServiceNamespace string
	InstanceID       string // service.instance.id, unique per process start
	ExecutableName   string // base name of the executable
	ExecutablePath   string
	Command          string // argv[0]
	// NetNS is the inode of the process's network namespace
	// (/proc/<pid>/ns/net), 0 when unknown: a loopback endpoint names a
	// socket only within one network namespace.
	NetNS uint64
	// StartTimeUnixNano is when the process started (used as a stable
	// start time for its cumulative metrics when later than the receiver's).
	StartTimeUnixNano uint64
	// Extra resource attributes, already in semconv key form: host.id,
	// container.id, k8s.pod.uid (from the cgroup), and with Kubernetes
	// metadata k8s.namespace.name, k8s.pod.name, k8s.container.name,
	// k8s.node.name, k8s.<workload>.name and the pod's other
	// resource.opentelemetry.io/ annotations. Shared between the Infos of
	// a process and its forked children: never modify it.
	Extra map[string]string
}
