// Package routes owns http.route: it maps a request path to a low-cardinality
// route template with the user's patterns, says whether the request must be
// left out of metrics and/or traces (ignored patterns), and decides what a
// path that matches no pattern becomes (the unmatched mode).
//
// Route is on the per-request path: patterns are compiled once by New into a
// segment trie, so matching uses no regular expression and does not allocate
// for a matched or ignored path.
//
// # Patterns
//
// A pattern is a path of "/"-separated segments. A segment is one of:
//
//   - a literal, matched exactly (case-sensitive): users
//   - a parameter, matching any one non-empty segment: {id} or :id (both
//     forms are accepted)
//   - "*", only as the last segment, matching one or more trailing segments:
//     /static/* matches /static/a.css and /static/img/a.png, not /static
//
// Paths are matched without their query string or fragment, and empty
// segments are skipped, so /users/7/, /users//7 and /users/7?x=1 all match
// /users/{id}. A pattern is limited to MaxSegments segments.
//
// The route of a matched path is the pattern exactly as configured:
// /basic/:rnd stays /basic/:rnd and /users/{id} stays /users/{id}, so that
// dashboards and alerts written for the configuration (Beyla's, for one)
// match what is reported.
//
// When several patterns match, the most specific wins: the matches are
// compared segment by segment from the left, and at the first segment where
// they differ a literal beats a parameter, which beats "*". With /users/me,
// /users/{id} and /users/*, the path /users/me is /users/me, /users/7 is
// /users/{id} and /users/7/cart is /users/*. Patterns of the same shape
// (/users/{id} and /users/:uid) are a configuration error.
//
// # Ignored patterns
//
// Ignored patterns have the same syntax; a path that matches any of them is
// dropped from metrics, traces or both, per the ignore mode. Ignoring is
// decided apart from routing: with ignore_mode metrics, /health still gets
// its route for its spans.
//
// # Unmatched paths
//
// See the Unmatched* constants. The default, "unset", leaves http.route
// empty, which is what the semantic conventions ask of instrumentation that
// does not know the application's routes. Paths that do not start with "/"
// (the asterisk form "*", or an unknown path "") never have a route, whatever
// the mode.
package routes

import (
	"errors"
	"fmt"
	"strings"
)

// Unmatched modes: what the route of a path that matches no pattern is.
const (
	// UnmatchedUnset leaves the route empty (the default).
	UnmatchedUnset = "unset"
	// UnmatchedPath uses the raw path (without query string). Dangerous:
	// every distinct path (ids, tokens, personal data) becomes its own
	// series and span name. Meant for debugging and closed systems only.
	UnmatchedPath = "path"
	// UnmatchedWildcard uses "/**" for every unmatched path.
	UnmatchedWildcard = "wildcard"
	// UnmatchedHeuristic replaces the segments that look like identifiers
	// with "*" and keeps those that look like words (see Heuristic).
	UnmatchedHeuristic = "heuristic"
)

// Ignore modes: where a request that matches an ignored pattern is dropped.
const (
	IgnoreModeAll     = "all" // from metrics and traces (the default)
	IgnoreModeMetrics = "metrics"
	IgnoreModeTraces  = "traces"
)

// WildcardRoute is the route of every unmatched path in wildcard mode.
const WildcardRoute = "/**"

// Config is the routes section of the receiver configuration.
type Config struct {
	// Patterns are the route templates, e.g. /users/{id}.
	Patterns []string `mapstructure:"patterns"`
	// IgnoredPatterns select requests to drop (same syntax as Patterns),
	// e.g. /health.
	IgnoredPatterns []string `mapstructure:"ignored_patterns"`
	// IgnoreMode is all (default when empty), metrics or traces.
	IgnoreMode string `mapstructure:"ignore_mode"`
	// Unmatched is unset (default when empty), path, wildcard or heuristic.
	Unmatched string `mapstructure:"unmatched"`
	// FromApplication takes the route from the application's own router
	// where one is recognised (Go: net/http ServeMux, gin, gorilla/mux) with
	// uprobes, one or two hits per request. A configured pattern that
	// matches still wins. On by default; turn it off when uprobes cost too
	// much on a node (a hit costs about 12 µs on our test VMs).
	FromApplication bool `mapstructure:"from_application"`
}

// Ignore says which telemetry a request must be left out of.
type Ignore uint8

const (
	IgnoreNone    Ignore = 0
	IgnoreMetrics Ignore = 1 << 0
	IgnoreTraces  Ignore = 1 << 1
	IgnoreAll            = IgnoreMetrics | IgnoreTraces
)

// Metrics says whether the request must be left out of metrics.
func (i Ignore) Metrics() bool { return i&IgnoreMetrics != 0 }

// Traces says whether the request must be left out of traces.
func (i Ignore) Traces() bool { return i&IgnoreTraces != 0 }

func (i Ignore) String() string {
	switch i {
	case IgnoreNone:
		return "none"
	case IgnoreMetrics:
		return "metrics"
	case IgnoreTraces:
		return "traces"
	case IgnoreAll:
		return "all"
	}
	return fmt.Sprintf("Ignore(%d)", uint8(i))
}

// Check reports every problem of the configuration at once. Each message
// names the key, the value and what to write instead. (Not named Validate:
// the collector would call it on its own as a nested config and report each
// problem twice; the receiver's Validate calls it.)
func (c Config) Check() error {
	_, errs := compile(c)
	return errors.Join(errs...)
}

// Router maps paths to routes. It is immutable, hence safe for concurrent
// use. A nil *Router behaves like one built from the zero Config: no route,
// nothing ignored.
type Router struct {
	routes    *node // nil without patterns
	ignored   *node // nil without ignored patterns
	ignore    Ignore
	unmatched string
}

// New compiles c; it fails with c.Check's error.
func New(c Config) (*Router, error) {
	r, errs := compile(c)
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return r, nil
}

// Route returns the route of a request path and whether the request must be
// dropped from metrics and/or traces. The path's query string and fragment,
// if any, are ignored. When ignore is IgnoreAll the route is not computed
// and is "".
//
// Matching walks the compiled tries once and returns a string made by New,
// so a matched or ignored path allocates nothing. The path and heuristic
// modes may return a substring of path; the heuristic mode allocates the
// route it builds (at most MaxRouteLen bytes) when it differs from path.
func (r *Router) Route(path string) (route string, ignore Ignore) {
	return r.Resolve(path, "")
}

// Resolve is Route for a request whose route the application itself
// reported (known, e.g. the pattern Go's ServeMux matched; "" if none). A
// configured pattern that matches wins (the user said so explicitly); else
// known; else the unmatched rule.
func (r *Router) Resolve(path, known string) (route string, ignore Ignore) {
	path = cutQuery(path)
	if r == nil || path == "" || path[0] != '/' {
		return known, IgnoreNone
	}
	if r.ignored != nil && r.ignored.match(path) != "" {
		ignore = r.ignore
		if ignore == IgnoreAll {
			return "", ignore
		}
	}
	if r.routes != nil {
		if route = r.routes.match(path); route != "" {
			return route, ignore
		}
	}
	if known != "" {
		return known, ignore
	}
	switch r.unmatched {
	case UnmatchedPath:
		return path, ignore
	case UnmatchedWildcard:
		return WildcardRoute, ignore
	case UnmatchedHeuristic:
		return heuristic(path), ignore
	}
	return "", ignore
}

// cutQuery drops the query string and fragment: parsers should have done it,
// but a route must never carry them.
func cutQuery(path string) string {
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	if i := strings.IndexByte(path, '#'); i >= 0 {
		path = path[:i]
	}
	return path
}

func compile(c Config) (*Router, []error) {
	var errs []error
	r := &Router{}

	switch c.IgnoreMode {
	case "", IgnoreModeAll:
		r.ignore = IgnoreAll
	case IgnoreModeMetrics:
		r.ignore = IgnoreMetrics
	case IgnoreModeTraces:
		r.ignore = IgnoreTraces
	default:
		errs = append(errs, fmt.Errorf("routes.ignore_mode: %q: use one of %s, %s, %s",
			c.IgnoreMode, IgnoreModeAll, IgnoreModeMetrics, IgnoreModeTraces))
	}

	switch c.Unmatched {
	case "", UnmatchedUnset:
		r.unmatched = UnmatchedUnset
	case UnmatchedPath, UnmatchedWildcard, UnmatchedHeuristic:
		r.unmatched = c.Unmatched
	default:
		errs = append(errs, fmt.Errorf("routes.unmatched: %q: use one of %s, %s, %s, %s",
			c.Unmatched, UnmatchedUnset, UnmatchedPath, UnmatchedWildcard, UnmatchedHeuristic))
	}

	if len(c.Patterns) > 0 {
		r.routes = &node{}
		// Same-shape patterns would make the route depend on the order of
		// the list: refuse them.
		shapes := map[string]int{}
		for i, p := range c.Patterns {
			segs, problem := parsePattern(p)
			if problem != "" {
				errs = append(errs, fmt.Errorf("routes.patterns[%d]: %q: %s", i, p, problem))
				continue
			}
			shape := shapeOf(segs)
			if prev, taken := shapes[shape]; taken {
				errs = append(errs, fmt.Errorf("routes.patterns[%d]: %q: same shape as routes.patterns[%d] %q; remove one",
					i, p, prev, c.Patterns[prev]))
				continue
			}
			shapes[shape] = i
			r.routes.insert(segs, p) // the route is the pattern as written
		}
	}

	if len(c.IgnoredPatterns) > 0 {
		r.ignored = &node{}
		for i, p := range c.IgnoredPatterns {
			segs, problem := parsePattern(p)
			if problem != "" {
				errs = append(errs, fmt.Errorf("routes.ignored_patterns[%d]: %q: %s", i, p, problem))
				continue
			}
			// Duplicates are harmless here: an ignored pattern has no output.
			r.ignored.insert(segs, ignoredMark)
		}
	}
	return r, errs
}

// ignoredMark marks the end of an ignored pattern: any non-empty string.
const ignoredMark = "ignored"
