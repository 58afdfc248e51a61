// Package resource owns the resource that describes an instrumented
// process, which the span builder and the RED aggregator must agree on.
// (What a request record becomes is its protocol's conventions' to say:
// record.Conventions.)
package resource

import (
	"slices"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ebpfred/ebpfred/internal/process"
)

// Key identifies one process instance. A PID alone is not enough: PIDs are
// reused, and a reused PID must not continue the previous process's series.
type Key struct {
	PID        uint32
	InstanceID string
}

// KeyOf returns the key telemetry of p is grouped under.
func KeyOf(p *process.Info) Key {
	return Key{PID: p.PID, InstanceID: p.InstanceID}
}

// Resource attribute keys.
const (
	AttrServiceName           = "service.name"
	AttrServiceNamespace      = "service.namespace"
	AttrServiceInstanceID     = "service.instance.id"
	AttrProcessPID            = "process.pid"
	AttrProcessExecutableName = "process.executable.name"
	AttrProcessExecutablePath = "process.executable.path"
	AttrProcessCommand        = "process.command"
	AttrHostName              = "host.name"
)

// Fill writes the resource attributes of p into dst, in a fixed order so
// that output is reproducible. Info.Extra is added last, sorted by key, and
// cannot override the identity attributes set above it.
func Fill(dst pcommon.Resource, p *process.Info, hostName string) {
	attrs := dst.Attributes()
	attrs.EnsureCapacity(8 + len(p.Extra))

	// semconv: service.name falls back to "unknown_service:" + executable.
	name := p.ServiceName
	if name == "" {
		name = "unknown_service"
		if p.ExecutableName != "" {
			name += ":" + p.ExecutableName
		}
	}
	attrs.PutStr(AttrServiceName, name)
	putNonEmpty(attrs, AttrServiceNamespace, p.ServiceNamespace)
	putNonEmpty(attrs, AttrServiceInstanceID, p.InstanceID)
	attrs.PutInt(AttrProcessPID, int64(p.PID))
	putNonEmpty(attrs, AttrProcessExecutableName, p.ExecutableName)
	putNonEmpty(attrs, AttrProcessExecutablePath, p.ExecutablePath)
	putNonEmpty(attrs, AttrProcessCommand, p.Command)
	putNonEmpty(attrs, AttrHostName, hostName)

	if len(p.Extra) == 0 {
		return
	}
	keys := make([]string, 0, len(p.Extra))
	for k := range p.Extra {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if _, taken := attrs.Get(k); taken {
			continue
		}
		attrs.PutStr(k, p.Extra[k])
	}
}

func putNonEmpty(m pcommon.Map, k, v string) {
	if v != "" {
		m.PutStr(k, v)
	}
}
