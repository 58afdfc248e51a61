package red

import (
	"testing"

	"go.opentelemetry.io/collector/pdata/pmetric"
)

// Requests possibly lost are one cumulative sum per process, under the same
// resource as its histograms, and only once the process lost something.
func TestPossiblyLost(t *testing.T) {
	a := New(Config{DurationBuckets: durBounds, SizeBuckets: sizeBounds}, aggStart)
	a.Add(server(10*ms), app)
	if n := lostPoints(t, a.Collect(t0+ms)); n != nil {
		t.Fatalf("before any loss: %s exported (%v)", MetricPossiblyLost, n)
	}
	a.AddLost(app, 3)
	a.AddLost(app, 2)
	a.AddLost(nil, 7) // nobody's service: not exported
	md := a.Collect(t0 + 2*ms)
	if md.ResourceMetrics().Len() != 1 {
		t.Fatalf("%d resources, want 1 (the loss goes under the process's resource)", md.ResourceMetrics().Len())
	}
	if got := lostPoints(t, md); len(got) != 1 || got[0] != 5 {
		t.Fatalf("%s = %v, want [5]", MetricPossiblyLost, got)
	}
	a.AddLost(app, 1)
	if got := lostPoints(t, a.Collect(t0+3*ms)); len(got) != 1 || got[0] != 6 {
		t.Fatalf("cumulative: %s = %v, want [6]", MetricPossiblyLost, got)
	}
}

func lostPoints(t *testing.T, md pmetric.Metrics) []int64 {
	t.Helper()
	var out []int64
	for i := 0; i < md.ResourceMetrics().Len(); i++ {
		sms := md.ResourceMetrics().At(i).ScopeMetrics()
		for j := 0; j < sms.Len(); j++ {
			ms := sms.At(j).Metrics()
			for k := 0; k < ms.Len(); k++ {
				m := ms.At(k)
				if m.Name() != MetricPossiblyLost {
					continue
				}
				if m.Type() != pmetric.MetricTypeSum || !m.Sum().IsMonotonic() ||
					m.Sum().AggregationTemporality() != pmetric.AggregationTemporalityCumulative {
					t.Fatalf("%s is not a cumulative monotonic sum", m.Name())
				}
				dp := m.Sum().DataPoints().At(0)
				if dp.StartTimestamp() == 0 {
					t.Errorf("%s has no start time", m.Name())
				}
				out = append(out, dp.IntValue())
			}
		}
	}
	return out
}
