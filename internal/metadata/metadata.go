// Package metadata holds the component's identity.
package metadata

import "go.opentelemetry.io/collector/component"

var Type = component.MustNewType("ebpfred")

const (
	ScopeName        = "github.com/ebpfred/ebpfred/receiver/ebpfredreceiver"
	TracesStability  = component.StabilityLevelAlpha
	MetricsStability = component.StabilityLevelAlpha
)
