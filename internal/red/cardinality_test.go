package red

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"testing"

	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/record"
)

var overflowAttrs = map[string]any{AttrOTelMetricOverflow: true}

// totals is what every point of one metric adds up to.
type totals struct {
	points   int
	count    uint64
	sum      float64
	min, max float64
	buckets  []uint64
}

func (t *totals) add(count uint64, sum, lo, hi float64, buckets []uint64) {
	if t.count == 0 || lo < t.min {
		t.min = lo
	}
	if t.count == 0 || hi > t.max {
		t.max = hi
	}
	t.count += count
	t.sum += sum
	if t.buckets == nil {
		t.buckets = make([]uint64, len(buckets))
	}
	for i, b := range buckets {
		t.buckets[i] += b
	}
}

// expect computes the totals of values observed into bounds directly.
func expect(values []float64, bounds []float64) totals {
	t := totals{buckets: make([]uint64, len(bounds)+1)}
	for _, v := range values {
		i, _ := slices.BinarySearch(bounds, v)
		t.buckets[i]++
		if t.count == 0 || v < t.min {
			t.min = v
		}
		if t.count == 0 || v > t.max {
			t.max = v
		}
		t.count++
		t.sum += v
	}
	return t
}

// sumTotals adds up the points of each metric of one resource.
func sumTotals(ro resourceOut) map[string]*totals {
	m := map[string]*totals{}
	for _, p := range ro.Points {
		t := m[p.Metric]
		if t == nil {
			t = &totals{}
			m[p.Metric] = t
		}
		t.points++
		t.add(p.Count, p.Sum, p.Min, p.Max, p.Buckets)
	}
	return m
}

func checkTotals(t *testing.T, metric string, got *totals, want totals) {
	t.Helper()
	if got == nil {
		t.Errorf("%s: no points", metric)
		return
	}
	// Sums are added in a different order per series: allow rounding.
	if got.count != want.count || math.Abs(got.sum-want.sum) > 1e-9*math.Abs(want.sum) ||
		got.min != want.min || got.max != want.max || !reflect.DeepEqual(got.buckets, want.buckets) {
		t.Errorf("%s totals:\n got  count %d sum %v min %v max %v buckets %v\n want count %d sum %v min %v max %v buckets %v",
			metric, got.count, got.sum, got.min, got.max, got.buckets,
			want.count, want.sum, want.min, want.max, want.buckets)
	}
}

// TestOverflowTotals floods one process with distinct routes: the cap holds
// for every metric, the overflow point is last and carries only
// otel.metric.overflow, and the points still add up to every record.
func TestOverflowTotals(t *testing.T) {
	const (
		maxSeries = 10
		nServer   = 1000
		nClient   = 300
	)
	a := New(Config{DurationBuckets: durBounds, SizeBuckets: sizeBounds, MaxSeriesPerService: maxSeries}, aggStart)

	var durs, clientDurs, reqSizes, respSizes []float64
	for i := range nServer {
		d := uint64(i%1300) * ms
		a.Add(server(d, func(r *record.Record) {
			r.Route = fmt.Sprintf("/r/%d", i)
			r.RequestBodySize = int64(i % 150)
			r.ResponseBodySize = -1
			if i%3 == 0 {
				r.ResponseBodySize = int64(i)
			}
		}), app)
		durs = append(durs, float64(d)/1e9)
		reqSizes = append(reqSizes, float64(i%150))
		if i%3 == 0 {
			respSizes = append(respSizes, float64(i))
		}
	}
	for i := range nClient {
		d := uint64(i) * ms
		a.Add(client(d, func(r *record.Record) { r.Host = fmt.Sprintf("h%d", i) }), app)
		clientDurs = append(clientDurs, float64(d)/1e9)
	}
	a.Add(grpcRecord(record.KindServer, 0), app) // another family: its own cap

	wantOverflowed := uint64((nServer - (maxSeries - 1)) + (nClient - (maxSeries - 1)))
	if got := a.Overflowed(); got != wantOverflowed {
		t.Errorf("Overflowed() = %d, want %d", got, wantOverflowed)
	}

	out := flatten(t, a.Collect(t0))
	if len(out) != 1 {
		t.Fatalf("%d resources, want 1", len(out))
	}
	sums := sumTotals(out[0])
	checkTotals(t, "http.server.request.duration", sums["http.server.request.duration"], expect(durs, durBounds))
	checkTotals(t, "http.server.request.body.size", sums["http.server.request.body.size"], expect(reqSizes, sizeBounds))
	checkTotals(t, "http.server.response.body.size", sums["http.server.response.body.size"], expect(respSizes, sizeBounds))
	checkTotals(t, "http.client.request.duration", sums["http.client.request.duration"], expect(clientDurs, durBounds))
	if s := sums["rpc.server.call.duration"]; s == nil || s.points != 1 || s.count != 1 {
		t.Errorf("rpc.server.call.duration: %+v, want one point of one record", s)
	}

	var last = map[string]point{}
	var routes []string
	for _, p := range out[0].Points {
		last[p.Metric] = p
		if p.Metric == "http.server.request.duration" {
			routes = append(routes, fmt.Sprint(p.Attrs["http.route"]))
		}
	}
	for metric, s := range sums {
		if s.points > maxSeries {
			t.Errorf("%s: %d points, cap is %d", metric, s.points, maxSeries)
		}
		if metric == "rpc.server.call.duration" {
			continue
		}
		if metric != "http.server.response.body.size" && s.points != maxSeries { // /r/1, /r/2: no response size
			t.Errorf("%s: %d points, want %d (the cap)", metric, s.points, maxSeries)
		}
		if p := last[metric]; !reflect.DeepEqual(p.Attrs, overflowAttrs) {
			t.Errorf("%s: last point attributes %v, want %v", metric, p.Attrs, overflowAttrs)
		}
	}
	// The first attribute sets seen keep their own series, in order.
	want := []string{"/r/0", "/r/1", "/r/2", "/r/3", "/r/4", "/r/5", "/r/6", "/r/7", "/r/8", "<nil>"}
	if !reflect.DeepEqual(routes, want) {
		t.Errorf("server routes %v, want %v", routes, want)
	}
}

// TestOverflowKeepsExistingSeries: once the cap is reached, known attribute
// sets still count in their own series, new ones in the overflow series,
// cumulatively across Collects; each process has its own cap.
func TestOverflowKeepsExistingSeries(t *testing.T) {
	a := New(Config{DurationBuckets: durBounds, MaxSeriesPerService: 3}, aggStart)
	route := func(s string) func(*record.Record) { return func(r *record.Record) { r.Route = s } }
	other := &process.Info{PID: 7, InstanceID: "inst-7"}

	for _, r := range []string{"/a", "/b", "/c", "/d", "/a", "/b", "/c"} {
		a.Add(server(ms, route(r)), app)
	}
	a.Add(server(ms, route("/x")), other)
	a.Add(server(ms, route("/y")), other)

	type pt struct {
		route any
		count uint64
	}
	points := func(now uint64) map[any][]pt {
		m := map[any][]pt{}
		for _, ro := range flatten(t, a.Collect(now)) {
			for _, p := range ro.Points {
				r := p.Attrs["http.route"]
				if p.Attrs[AttrOTelMetricOverflow] == true {
					r = "overflow"
				}
				m[ro.Attrs["service.instance.id"]] = append(m[ro.Attrs["service.instance.id"]], pt{r, p.Count})
				if p.Start != aggStart {
					t.Errorf("start %d, want %d", p.Start, aggStart)
				}
			}
		}
		return m
	}
	got := points(t0)
	want := map[any][]pt{
		"inst-42": {{"/a", 2}, {"/b", 2}, {"overflow", 3}}, // /c, /d, /c
		"inst-7":  {{"/x", 1}, {"/y", 1}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("first collect\n got  %v\n want %v", got, want)
	}
	if a.Overflowed() != 3 {
		t.Errorf("Overflowed() = %d, want 3", a.Overflowed())
	}

	a.Add(server(ms, route("/a")), app)
	a.Add(server(ms, route("/e")), app)
	got = points(t0 + 1)
	want["inst-42"] = []pt{{"/a", 3}, {"/b", 2}, {"overflow", 4}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("second collect\n got  %v\n want %v", got, want)
	}
	if a.Overflowed() != 4 {
		t.Errorf("Overflowed() = %d, want 4", a.Overflowed())
	}
}

func TestMaxSeriesEdges(t *testing.T) {
	for _, tt := range []struct {
		max        int
		wantPoints int
		overflowed uint64
	}{
		{max: 0, wantPoints: 50},  // no cap
		{max: -5, wantPoints: 50}, // no cap
		{max: 1, wantPoints: 1, overflowed: 50},
		{max: 50, wantPoints: 50, overflowed: 1}, // the 50th set goes to overflow
		{max: 51, wantPoints: 50},
	} {
		a := New(Config{MaxSeriesPerService: tt.max}, aggStart)
		for i := range 50 {
			a.Add(server(ms, func(r *record.Record) { r.Route = fmt.Sprint(i) }), app)
		}
		out := flatten(t, a.Collect(t0))
		var n int
		var count uint64
		for _, p := range out[0].Points {
			n++
			count += p.Count
		}
		if n != tt.wantPoints || count != 50 || a.Overflowed() != tt.overflowed {
			t.Errorf("max %d: %d points, count %d, overflowed %d; want %d, 50, %d",
				tt.max, n, count, a.Overflowed(), tt.wantPoints, tt.overflowed)
		}
	}
}

// TestAddAllocs: counting into an existing series or into the overflow
// series allocates nothing.
func TestAddAllocs(t *testing.T) {
	a := New(Config{DurationBuckets: durBounds, SizeBuckets: sizeBounds, MaxSeriesPerService: 2}, aggStart)
	known := server(ms)
	fresh := server(ms, func(r *record.Record) { r.Route = "/other" })
	a.Add(known, app)
	a.Add(fresh, app) // makes the overflow series
	for name, r := range map[string]*record.Record{"existing": known, "overflow": fresh} {
		if n := testing.AllocsPerRun(100, func() { a.Add(r, app) }); n != 0 {
			t.Errorf("Add into %s series: %v allocations, want 0", name, n)
		}
	}
}

// BenchmarkAddOverflow: every record has a new route, past the cap.
func BenchmarkAddOverflow(b *testing.B) {
	a := New(Config{DurationBuckets: durBounds, SizeBuckets: sizeBounds, MaxSeriesPerService: 100}, aggStart)
	rs := make([]*record.Record, 1024)
	for i := range rs {
		rs[i] = server(ms, func(r *record.Record) { r.Route = fmt.Sprintf("/r/%d", i) })
		a.Add(rs[i], app)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		a.Add(rs[i&1023], app)
		i++
	}
}
