package record

import "net/netip"

// Conventions map the records of one protocol to the OpenTelemetry semantic
// conventions: how their spans are named and attributed, when they count
// as errors, and which metrics count them under which attributes. Each
// protocol package provides the conventions of the records it emits (in
// Record.Conv); the span builder and the RED aggregator know protocols only
// through this interface. Implementations must not allocate per record on
// the metrics path (MetricAttributes): it runs for 100% of requests.
type Conventions interface {
	// SpanName is the span's name (e.g. "GET /users/{id}", "SELECT users").
	SpanName(r *Record) string
	// SpanAttributes adds the span's attributes to a.
	SpanAttributes(r *Record, a *Attrs)
	// ErrorType is the semconv error.type of r, "" when the request did not
	// fail. It decides the span's status too.
	ErrorType(r *Record) string
	// Family is the metric family r is counted in, nil when none.
	Family(r *Record) *Family
	// MetricAttributes adds the attributes of r's metric point to a.
	MetricAttributes(r *Record, opt MetricOptions, a *Attrs)
	// Routed says whether r takes an http.route (routes.patterns, Go
	// routers' own routes): HTTP server requests.
	Routed(r *Record) bool
}

// MetricOptions are the metric attributes a user can opt into.
type MetricOptions struct {
	// ReportTarget adds url.path (HTTP) or the target (high cardinality).
	ReportTarget bool
	// ReportPeer adds client.address on server metrics.
	ReportPeer bool
	// ReportServerPort adds server.port on server metrics.
	ReportServerPort bool
}

// Family is a set of histograms that count the same records under the same
// attributes: e.g. http.server.request.duration with the request and
// response body sizes.
type Family struct {
	// Name tells families apart (e.g. "http.server"); it is not exported.
	Name string
	// Metrics: the first is the duration histogram.
	Metrics []Metric
}

// Metric is one histogram of a family.
type Metric struct {
	Name, Unit, Description string
	// Size: the value is a size in bytes (size buckets), else a duration
	// in seconds (duration buckets).
	Size bool
	// Value returns r's value, false when unknown (it is then not counted
	// in this histogram). Nil: the record's duration.
	Value func(r *Record) (float64, bool)
}

// Duration is a record's duration in seconds.
func Duration(r *Record) float64 {
	if r.EndUnixNano > r.StartUnixNano {
		return float64(r.EndUnixNano-r.StartUnixNano) / 1e9
	}
	return 0
}

// AttrKind says how an Attr's value is held.
type AttrKind uint8

const (
	AttrString AttrKind = iota + 1
	AttrInt
	AttrBool
	// AttrAddr: an IP address, formatted by the consumer (which may cache
	// the text: a service talks to few peers).
	AttrAddr
)

// Attr is one attribute.
type Attr struct {
	Key  string
	Kind AttrKind
	Str  string
	Int  int64
	Addr netip.Addr
}

// MaxAttrs bounds the attributes of one span or point.
const MaxAttrs = 16

// Attrs is a small, fixed-capacity attribute set. It is comparable (a
// metric series is keyed by it) and allocates nothing; its strings may
// point into a record's memory.
type Attrs struct {
	n int
	a [MaxAttrs]Attr
}

// Len is the number of attributes.
func (s *Attrs) Len() int { return s.n }

// At returns attribute i.
func (s *Attrs) At(i int) *Attr { return &s.a[i] }

func (s *Attrs) add(a Attr) {
	if s.n < MaxAttrs {
		s.a[s.n] = a
		s.n++
	}
}

// Str adds a string attribute, unless v is empty.
func (s *Attrs) Str(k, v string) {
	if v != "" {
		s.add(Attr{Key: k, Kind: AttrString, Str: v})
	}
}

// Int adds an integer attribute.
func (s *Attrs) Int(k string, v int64) { s.add(Attr{Key: k, Kind: AttrInt, Int: v}) }

// Bool adds a boolean attribute.
func (s *Attrs) Bool(k string, v bool) {
	var i int64
	if v {
		i = 1
	}
	s.add(Attr{Key: k, Kind: AttrBool, Int: i})
}

// Addr adds an IP address attribute, unless ip is invalid.
func (s *Attrs) Addr(k string, ip netip.Addr) {
	if ip.IsValid() {
		s.add(Attr{Key: k, Kind: AttrAddr, Addr: ip})
	}
}

// Get returns the attribute named k, nil when absent.
func (s *Attrs) Get(k string) *Attr {
	for i := 0; i < s.n; i++ {
		if s.a[i].Key == k {
			return &s.a[i]
		}
	}
	return nil
}
