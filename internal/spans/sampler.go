package spans

import (
	"encoding/binary"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/ebpfred/ebpfred/internal/record"
)

// SamplerConfig chooses which requests become spans, with the names and
// arguments of the SDKs' OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG.
// Metrics always count every request, whatever the sampler.
type SamplerConfig struct {
	// Name: always_on (default), always_off, traceidratio,
	// parentbased_always_on, parentbased_always_off, parentbased_traceidratio.
	Name string `mapstructure:"name"`
	// Arg is the ratio for the *traceidratio samplers, "0" to "1".
	Arg string `mapstructure:"arg"`
}

var samplerNames = []string{"always_on", "always_off", "traceidratio",
	"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio"}

// Check reports a configuration problem, naming the key, the value and the
// fix. (Not named Validate: the collector would call it on its own as a
// nested config and report each problem twice.)
func (c SamplerConfig) Check() error {
	_, err := c.sampler()
	return err
}

// sampler is the compiled form of a SamplerConfig.
type sampler struct {
	parentBased bool
	root        int    // decision for roots: 1 keep, 0 drop, -1 by ratio
	threshold   uint64 // keep when the trace id's low 8 bytes are below it
	all         bool   // ratio 1
}

func (c SamplerConfig) sampler() (sampler, error) {
	name := strings.ToLower(strings.TrimSpace(c.Name))
	var s sampler
	switch name {
	case "", "always_on":
		return sampler{root: 1}, nil
	case "always_off":
		return sampler{root: 0}, nil
	case "parentbased_always_on":
		return sampler{parentBased: true, root: 1}, nil
	case "parentbased_always_off":
		return sampler{parentBased: true, root: 0}, nil
	case "traceidratio", "parentbased_traceidratio":
		s = sampler{parentBased: name == "parentbased_traceidratio", root: -1}
	default:
		return s, fmt.Errorf("traces.sampler.name: %q: use one of %s", c.Name, strings.Join(samplerNames, ", "))
	}
	ratio, err := strconv.ParseFloat(strings.TrimSpace(c.Arg), 64)
	if err != nil || math.IsNaN(ratio) || ratio < 0 || ratio > 1 {
		return s, fmt.Errorf("traces.sampler.arg: %q: %s needs a ratio from 0 to 1, e.g. \"0.1\" keeps one trace in ten", c.Arg, name)
	}
	switch {
	case ratio >= 1:
		s.all = true
	default:
		// The SDKs' TraceIdRatioBased rule: compare the trace id's low
		// 8 bytes (random per W3C) with ratio × 2^64.
		s.threshold = uint64(ratio * (1 << 63) * 2)
	}
	return s, nil
}

// keep decides for a record whose trace id is known (its own or the one a
// root span will get).
func (s *sampler) keep(r *record.Record, traceID [16]byte) bool {
	if s.parentBased && r.HasTraceParent {
		return r.TraceFlags&flagSampled != 0
	}
	switch s.root {
	case 1:
		return true
	case 0:
		return false
	}
	return s.all || binary.BigEndian.Uint64(traceID[8:]) < s.threshold
}
