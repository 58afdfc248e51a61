package ebpfredreceiver

import (
	"time"
)

// Config is the ebpfred receiver configuration. Key names are part of the
// product (they follow Beyla's where Beyla has one): keep them.
type Config struct {
	// OpenPort selects processes that listen on any of these ports:
	// "80,443,8000-8999".
	OpenPort string `mapstructure:"open_port"`
	// ExecutableName is a regular expression on the executable path. When
	// both are set, a process must match both.
	ExecutableName string `mapstructure:"executable_name"`

	Metrics MetricsConfig `mapstructure:"metrics"`

	// RingBufferSize is the size in bytes of the kernel→collector event ring
	// (a power of two, multiple of the page size).
	RingBufferSize int `mapstructure:"ring_buffer_size"`

	// DiscoveryInterval is how often /proc is rescanned for processes to
	// instrument.
	DiscoveryInterval time.Duration `mapstructure:"discovery_interval"`
}

// MetricsConfig configures the RED metrics.
type MetricsConfig struct {
	// Interval between two exports of the cumulative metrics.
	Interval time.Duration `mapstructure:"interval"`
	// DurationBuckets are explicit histogram boundaries in seconds.
	DurationBuckets []float64 `mapstructure:"duration_buckets"`
	// SizeBuckets are explicit histogram boundaries in bytes.
	SizeBuckets []float64 `mapstructure:"size_buckets"`
	// ReportTarget adds url.path to metrics (high cardinality: off by default).
	ReportTarget bool `mapstructure:"report_target"`
	// ReportPeer adds client.address to server metrics (off by default).
	ReportPeer bool `mapstructure:"report_peer"`
}
