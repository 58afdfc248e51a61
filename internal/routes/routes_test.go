package routes

import (
	"fmt"
	"strings"
	"testing"
)

func mustNew(t testing.TB, c Config) *Router {
	t.Helper()
	r, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // one line per problem, in order; nil: valid
	}{
		{name: "zero config is valid", cfg: Config{}},
		{
			name: "every documented form",
			cfg: Config{
				Patterns:        []string{"/", "/users/{id}", "/users/:id/basket/{product}", "/static/*", "/users/me/", "//a//b", "/v1/topics:publish", "/a/{p.x-y_z}"},
				IgnoredPatterns: []string{"/health", "/metrics", "/health", "/debug/*"},
				IgnoreMode:      "traces",
				Unmatched:       "heuristic",
			},
		},
		{
			name: "bad modes",
			cfg:  Config{IgnoreMode: "Metrics", Unmatched: "foo"},
			want: []string{
				`routes.ignore_mode: "Metrics": use one of all, metrics, traces`,
				`routes.unmatched: "foo": use one of unset, path, wildcard, heuristic`,
			},
		},
		{
			name: "pattern syntax",
			cfg: Config{Patterns: []string{
				"/ok", "", "users", "/a/{id", "/a/{}", "/a/:", "/a/{id}x", "/a/x{id}", "/a/id}",
				"/a/{i d}", "/a/*/b", "/a/**", "/a/b*", "/a?x=1", "/a#f",
				"/" + strings.Repeat("a/", MaxSegments+1),
			}},
			want: []string{
				`routes.patterns[1]: "": empty; write a path such as "/users/{id}"`,
				`routes.patterns[2]: "users": must start with "/"; write "/users"`,
				`routes.patterns[3]: "/a/{id": unclosed "{"`,
				`routes.patterns[4]: "/a/{}": empty parameter name; name it, e.g. {id} or :id`,
				`routes.patterns[5]: "/a/:": empty parameter name; name it, e.g. {id} or :id`,
				`routes.patterns[6]: "/a/{id}x": a parameter must be a whole segment, not part of "{id}x"; write it alone, e.g. {id}`,
				`routes.patterns[7]: "/a/x{id}": a parameter must be a whole segment, not part of "x{id}"; write it alone, e.g. {id}`,
				`routes.patterns[8]: "/a/id}": "}" without "{" in "id}"`,
				`routes.patterns[9]: "/a/{i d}": parameter name "i d" may only contain letters, digits, "_", "-" and "."`,
				`routes.patterns[10]: "/a/*/b": "*" must be the last segment; match one segment in the middle with a parameter such as {name}`,
				`routes.patterns[11]: "/a/**": write "*" instead of "**": it already matches any number of trailing segments`,
				`routes.patterns[12]: "/a/b*": "*" must be a whole segment, not part of "b*"; e.g. "/static/*"`,
				`routes.patterns[13]: "/a?x=1": patterns match the path only; remove "?" and what follows: "/a"`,
				`routes.patterns[14]: "/a#f": patterns match the path only; remove "#" and what follows: "/a"`,
				`routes.patterns[15]: "/` + strings.Repeat("a/", MaxSegments+1) + `": more than 20 segments; shorten it, or end it with "/*"`,
			},
		},
		{
			name: "same shape",
			cfg:  Config{Patterns: []string{"/users/{id}", "/static/*", "/users/:uid/", "/static/*", "/users"}},
			want: []string{
				`routes.patterns[2]: "/users/:uid/": same shape as routes.patterns[0] "/users/{id}"; remove one`,
				`routes.patterns[3]: "/static/*": same shape as routes.patterns[1] "/static/*"; remove one`,
			},
		},
		{
			name: "ignored patterns use their own key",
			cfg:  Config{IgnoredPatterns: []string{"/ok", "health"}},
			want: []string{`routes.ignored_patterns[1]: "health": must start with "/"; write "/health"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Check()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("Validate():\n got  %q\n want %q", got, tt.want)
			}
			r, nerr := New(tt.cfg)
			if (nerr == nil) != (err == nil) || (nerr != nil && nerr.Error() != err.Error()) {
				t.Errorf("New error %v, want the Validate error %v", nerr, err)
			}
			if (r == nil) == (nerr == nil) {
				t.Errorf("New returned router %v with error %v", r, nerr)
			}
		})
	}
}

func TestRoutePatterns(t *testing.T) {
	r := mustNew(t, Config{Patterns: []string{
		"/users/{id}",
		"/users/{id}/basket/{product}",
		"/static/*",
		"/users/me",
		"/users/:uid/orders/:oid",
		"/users/*",
		"/",
		"/files/{name}/raw",
		"/files/latest/*",
		"/api/v1/items/{id}",
		"/api/{version}/items/search",
	}})
	tests := []struct{ path, want string }{
		// params, both syntaxes, reported as written
		{"/users/42", "/users/{id}"},
		{"/users/42/basket/7", "/users/{id}/basket/{product}"},
		{"/users/42/orders/9", "/users/:uid/orders/:oid"},
		// query, fragment, trailing and doubled slashes
		{"/users/42?x=1&y=/a/b", "/users/{id}"},
		{"/users/42#top", "/users/{id}"},
		{"/users/42/", "/users/{id}"},
		{"//users//42//", "/users/{id}"},
		{"/", "/"},
		{"/?q=1", "/"},
		{"//", "/"},
		// precedence: literal > param > wildcard, leftmost difference decides
		{"/users/me", "/users/me"},
		{"/users/me/", "/users/me"},
		{"/users/me/basket/3", "/users/{id}/basket/{product}"}, // literal branch fails, param branch matches
		{"/users/42/profile", "/users/*"},
		{"/users/42/basket", "/users/*"},
		{"/users/42/basket/7/extra", "/users/*"},
		{"/files/latest/raw", "/files/latest/*"}, // literal "latest" beats {name} at segment 2
		{"/files/other/raw", "/files/{name}/raw"},
		{"/api/v1/items/search", "/api/v1/items/{id}"}, // segment 2: literal v1 beats {version}
		{"/api/v2/items/search", "/api/{version}/items/search"},
		// wildcard: one or more trailing segments
		{"/static/app.js", "/static/*"},
		{"/static/img/a/b.png", "/static/*"},
		{"/static", ""},
		{"/static/", ""},
		// no match
		{"/users", ""},
		{"/Users/42", ""}, // case-sensitive
		{"/nope", ""},
		// not a path
		{"", ""},
		{"*", ""},
		{"users/42", ""},
	}
	for _, tt := range tests {
		got, ign := r.Route(tt.path)
		if got != tt.want || ign != IgnoreNone {
			t.Errorf("Route(%q) = %q, %v; want %q, none", tt.path, got, ign, tt.want)
		}
	}
}

func TestUnmatched(t *testing.T) {
	patterns := []string{"/users/{id}"}
	tests := []struct {
		mode, path, want string
	}{
		{"", "/orders/42", ""},
		{"unset", "/orders/42", ""},
		{"path", "/orders/42?token=secret", "/orders/42"},
		{"path", "/orders/42/", "/orders/42/"}, // raw
		{"wildcard", "/orders/42", "/**"},
		{"wildcard", "/", "/**"},
		{"heuristic", "/orders/42/", "/orders/*"},
		{"heuristic", "/users/42", "/users/{id}"}, // patterns first
		// not a path: no route in any mode
		{"path", "*", ""},
		{"wildcard", "*", ""},
		{"heuristic", "", ""},
	}
	for _, tt := range tests {
		r := mustNew(t, Config{Patterns: patterns, Unmatched: tt.mode})
		if got, _ := r.Route(tt.path); got != tt.want {
			t.Errorf("unmatched %q: Route(%q) = %q, want %q", tt.mode, tt.path, got, tt.want)
		}
	}
}

func TestIgnore(t *testing.T) {
	base := Config{
		Patterns:        []string{"/users/{id}", "/health"},
		IgnoredPatterns: []string{"/health", "/metrics", "/debug/*", "/users/{id}/ping"},
		Unmatched:       "heuristic",
	}
	tests := []struct {
		mode, path string
		route      string
		ignore     Ignore
	}{
		{"", "/health", "", IgnoreAll},
		{"all", "/health/?verbose", "", IgnoreAll},
		{"all", "/debug/pprof/heap", "", IgnoreAll},
		{"all", "/users/7/ping", "", IgnoreAll},
		{"all", "/users/7", "/users/{id}", IgnoreNone},
		{"all", "/debug", "/debug", IgnoreNone}, // "*" needs a segment
		{"metrics", "/health", "/health", IgnoreMetrics},
		{"metrics", "/metrics", "/metrics", IgnoreMetrics}, // heuristic route still computed for traces
		{"metrics", "/debug/pprof/42", "/debug/pprof/*", IgnoreMetrics},
		{"traces", "/health", "/health", IgnoreTraces},
		{"traces", "/users/7/ping", "/users/*/ping", IgnoreTraces},
		{"traces", "/healthz", "/healthz", IgnoreNone},
	}
	for _, tt := range tests {
		c := base
		c.IgnoreMode = tt.mode
		r := mustNew(t, c)
		route, ign := r.Route(tt.path)
		if route != tt.route || ign != tt.ignore {
			t.Errorf("ignore_mode %q: Route(%q) = %q, %v; want %q, %v", tt.mode, tt.path, route, ign, tt.route, tt.ignore)
		}
		if ign.Metrics() != (ign&IgnoreMetrics != 0) || ign.Traces() != (ign&IgnoreTraces != 0) {
			t.Errorf("%v: Metrics()/Traces() disagree with the bits", ign)
		}
	}
	for i, want := range map[Ignore]string{IgnoreNone: "none", IgnoreMetrics: "metrics", IgnoreTraces: "traces", IgnoreAll: "all", 9: "Ignore(9)"} {
		if i.String() != want {
			t.Errorf("Ignore(%d).String() = %q, want %q", uint8(i), i.String(), want)
		}
	}
}

func TestNilRouter(t *testing.T) {
	var r *Router
	if route, ign := r.Route("/users/42"); route != "" || ign != IgnoreNone {
		t.Errorf("nil Router: %q, %v; want \"\", none", route, ign)
	}
}

// TestRouteAllocs: a matched or ignored path, and a heuristic route equal to
// the path, cost no allocation.
func TestRouteAllocs(t *testing.T) {
	r := mustNew(t, Config{
		Patterns:        []string{"/users/{id}", "/users/{id}/basket/{product}", "/static/*"},
		IgnoredPatterns: []string{"/health"},
		Unmatched:       "heuristic",
	})
	for _, p := range []string{"/users/42/basket/7?x=1", "/static/a/b.css", "/health", "/api/v1/orders"} {
		if n := testing.AllocsPerRun(100, func() { r.Route(p) }); n != 0 {
			t.Errorf("Route(%q): %v allocations, want 0", p, n)
		}
	}
	if n := testing.AllocsPerRun(100, func() { r.Route("/api/v1/orders/42") }); n > 1 {
		t.Errorf("heuristic route: %v allocations, want at most 1", n)
	}
}

// TestManyLiterals: a node with more literal children than maxScan switches
// from a scanned slice to a map; both must match the same way.
func TestManyLiterals(t *testing.T) {
	var patterns []string
	for i := range 3 * maxScan {
		patterns = append(patterns, fmt.Sprintf("/p%d/{id}", i), fmt.Sprintf("/x/p%d", i))
	}
	patterns = append(patterns, "/x/{name}/*")
	r := mustNew(t, Config{Patterns: patterns})
	for i := range 3 * maxScan {
		if got, _ := r.Route(fmt.Sprintf("/p%d/42", i)); got != fmt.Sprintf("/p%d/{id}", i) {
			t.Errorf("/p%d/42: %q", i, got)
		}
		if got, _ := r.Route(fmt.Sprintf("/x/p%d", i)); got != fmt.Sprintf("/x/p%d", i) {
			t.Errorf("/x/p%d: %q", i, got)
		}
		if got, _ := r.Route(fmt.Sprintf("/x/p%d/a", i)); got != "/x/{name}/*" {
			t.Errorf("/x/p%d/a: %q", i, got)
		}
	}
	if got, _ := r.Route("/p999/1"); got != "" {
		t.Errorf("/p999/1: %q, want no route", got)
	}
}

// A route the application reported is kept unless a configured pattern
// matches; the unmatched rule applies only when neither exists.
func TestResolvePrecedence(t *testing.T) {
	r, err := New(Config{Patterns: []string{"/users/{id}"}, Unmatched: "wildcard"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, known, want string }{
		{"/users/7", "/", "/users/{id}"},           // configured pattern wins
		{"/items/7", "/items/{id}", "/items/{id}"}, // the application's route
		{"/items/7", "", "/**"},                    // the unmatched rule
		{"*", "/x", "/x"},                          // not a path: the known route stands
	} {
		if got, _ := r.Resolve(tc.path, tc.known); got != tc.want {
			t.Errorf("Resolve(%q, %q) = %q, want %q", tc.path, tc.known, got, tc.want)
		}
	}
	var none *Router
	if got, _ := none.Resolve("/a", "/a/{b}"); got != "/a/{b}" {
		t.Errorf("nil router dropped the known route: %q", got)
	}
}

// The route is the pattern exactly as configured: a Beyla user's
// /basic/:rnd is reported as /basic/:rnd, which their dashboards match.
func TestRouteAsWritten(t *testing.T) {
	patterns := []string{"/basic/:rnd", "/users/{id}", "/users/{id}/orders/:oid", "/v1/topics:publish", "/docs/", "//a//b", "/static/*"}
	r := mustNew(t, Config{Patterns: patterns})
	for _, tt := range []struct{ path, want string }{
		{"/basic/42", "/basic/:rnd"},
		{"/users/7", "/users/{id}"},
		{"/users/7/orders/9", "/users/{id}/orders/:oid"},
		{"/v1/topics:publish", "/v1/topics:publish"},
		{"/docs", "/docs/"},
		{"/a/b", "//a//b"},
		{"/static/a/b.css", "/static/*"},
	} {
		if got, _ := r.Route(tt.path); got != tt.want {
			t.Errorf("Route(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
}
