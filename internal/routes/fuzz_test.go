package routes

import (
	"strings"
	"testing"
)

var fuzzConfig = Config{
	Patterns: []string{
		"/users/{id}", "/users/{id}/basket/{product}", "/users/me", "/static/*",
		"/api/:version/items/{id}", "/api/v1/*", "/",
	},
	IgnoredPatterns: []string{"/health", "/debug/*"},
	IgnoreMode:      "metrics",
	Unmatched:       "heuristic",
}

// FuzzRoute: Route never panics, its heuristic routes are bounded, and
// routing a route again gives the same route (so that a route is a fixed
// point: /users/* does not drift to something else on a second look).
func FuzzRoute(f *testing.F) {
	for _, c := range heuristicCorpus {
		f.Add(c.path)
	}
	for _, p := range []string{"/users/42?x=/y", "/users/me/basket/3", "/static/", "/api/v2/items/7", "/health/", "/debug/x", "\x00/\xff", "/%", "/\u00e9t\u00e9/42"} {
		f.Add(p)
	}
	r, err := New(fuzzConfig)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, path string) {
		route, ign := r.Route(path)
		if ign != IgnoreNone && ign != IgnoreMetrics {
			t.Fatalf("Route(%q): ignore %v with ignore_mode metrics", path, ign)
		}
		if len(route) > MaxRouteLen {
			t.Fatalf("Route(%q) = %d bytes, more than MaxRouteLen", path, len(route))
		}
		if route == "" {
			return
		}
		if route[0] != '/' || strings.ContainsAny(route, "?#") {
			t.Fatalf("Route(%q) = %q: not a path template", path, route)
		}
		again, ign2 := r.Route(route)
		if again != route {
			t.Fatalf("Route(%q) = %q, but Route(%q) = %q", path, route, route, again)
		}
		if ign2 != ign {
			t.Fatalf("Route(%q) ignore %v, but Route(%q) ignore %v", path, ign, route, ign2)
		}
		if h := Heuristic(path); h != "" && Heuristic(h) != h {
			t.Fatalf("Heuristic(%q) = %q, Heuristic of it = %q", path, h, Heuristic(h))
		}
	})
}
