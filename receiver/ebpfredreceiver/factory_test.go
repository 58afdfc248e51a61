package ebpfredreceiver

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/collector/component/componenttest"
)

func TestNewFactory(t *testing.T) {
	f := NewFactory()
	assert.Equal(t, "ebpfred", f.Type().String())
	assert.Equal(t, createDefaultConfig(), f.CreateDefaultConfig())
}

func TestCreateDefaultConfig(t *testing.T) {
	cfg := createDefaultConfig()
	require.NoError(t, componenttest.CheckConfigStruct(cfg))

	// The bucket defaults are copies: a config that edits its buckets must
	// not change the package defaults or another instance's config.
	c := cfg.(*Config)
	c.Metrics.DurationBuckets[0] = 42
	c.Metrics.SizeBuckets[0] = 42
	assert.NotEqual(t, 42.0, DefaultDurationBuckets[0])
	assert.NotEqual(t, 42.0, DefaultSizeBuckets[0])
}
