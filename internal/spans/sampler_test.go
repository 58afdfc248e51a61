package spans

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

func TestSamplerCheck(t *testing.T) {
	for _, tc := range []struct {
		cfg  SamplerConfig
		want string
	}{
		{SamplerConfig{}, ""},
		{SamplerConfig{Name: "always_off"}, ""},
		{SamplerConfig{Name: "parentbased_traceidratio", Arg: "0.1"}, ""},
		{SamplerConfig{Name: "TraceIdRatio", Arg: "1"}, ""},
		{SamplerConfig{Name: "sometimes"}, `traces.sampler.name: "sometimes": use one of always_on, always_off, traceidratio, parentbased_always_on, parentbased_always_off, parentbased_traceidratio`},
		{SamplerConfig{Name: "traceidratio"}, `traces.sampler.arg: "": traceidratio needs a ratio from 0 to 1, e.g. "0.1" keeps one trace in ten`},
		{SamplerConfig{Name: "traceidratio", Arg: "1.5"}, `traces.sampler.arg: "1.5": traceidratio needs a ratio from 0 to 1, e.g. "0.1" keeps one trace in ten`},
	} {
		err := tc.cfg.Check()
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.cfg, got, tc.want)
		}
	}
}

func TestSamplerDecisions(t *testing.T) {
	parent := func(sampled bool) *record.Record {
		r := &record.Record{Kind: record.KindServer, HasTraceParent: true, TraceID: [16]byte{1}, ParentSpanID: [8]byte{2}}
		if sampled {
			r.TraceFlags = 1
		}
		return r
	}
	root := &record.Record{Kind: record.KindServer}
	low := [16]byte{}  // low 8 bytes zero: kept by any ratio > 0
	high := [16]byte{} // low 8 bytes all ones: kept only by ratio 1
	binary.BigEndian.PutUint64(high[8:], ^uint64(0))
	for _, tc := range []struct {
		name string
		cfg  SamplerConfig
		r    *record.Record
		id   [16]byte
		want bool
	}{
		{"always_on root", SamplerConfig{}, root, high, true},
		{"always_on ignores an unsampled parent", SamplerConfig{}, parent(false), high, true},
		{"always_off", SamplerConfig{Name: "always_off"}, parent(true), low, false},
		{"parentbased follows a sampled parent", SamplerConfig{Name: "parentbased_always_off"}, parent(true), high, true},
		{"parentbased follows an unsampled parent", SamplerConfig{Name: "parentbased_always_on"}, parent(false), low, false},
		{"parentbased_always_off root", SamplerConfig{Name: "parentbased_always_off"}, root, low, false},
		{"ratio keeps a low id", SamplerConfig{Name: "traceidratio", Arg: "0.5"}, root, low, true},
		{"ratio drops a high id", SamplerConfig{Name: "traceidratio", Arg: "0.5"}, root, high, false},
		{"ratio 1 keeps all", SamplerConfig{Name: "traceidratio", Arg: "1"}, root, high, true},
		{"ratio 0 keeps none", SamplerConfig{Name: "traceidratio", Arg: "0"}, root, low, false},
		{"parentbased ratio: parent wins", SamplerConfig{Name: "parentbased_traceidratio", Arg: "0"}, parent(true), low, true},
	} {
		s, err := tc.cfg.sampler()
		if err != nil {
			t.Fatal(err)
		}
		if got := s.keep(tc.r, tc.id); got != tc.want {
			t.Errorf("%s: keep = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A ratio keeps that share of root traces (deterministic ids, so the
// bound is exact for this seed, not flaky).
func TestSamplerRatioThroughBuilder(t *testing.T) {
	b := NewBuilder(WithSampler(SamplerConfig{Name: "traceidratio", Arg: "0.25"}))
	b.rootRng = rand.NewChaCha8([32]byte{7})
	r := &record.Record{Kind: record.KindServer, Method: "GET", StatusCode: 200, RPCStatusCode: -1}
	const n = 20000
	for i := 0; i < n; i++ {
		b.Append(r, &process.Info{PID: 1})
	}
	_, kept := b.Take()
	if kept < n*23/100 || kept > n*27/100 || uint64(kept)+b.SampledOut() != n {
		t.Errorf("kept %d of %d (sampled out %d), want about 25%%", kept, n, b.SampledOut())
	}
}
