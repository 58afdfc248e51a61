package routes

import "testing"

// benchRouter has a realistic number of patterns: a few dozen.
func benchRouter(b *testing.B) *Router {
	patterns := []string{
		"/users/{id}", "/users/{id}/basket/{product}", "/users/me", "/static/*",
		"/api/v1/orders/{id}", "/api/v1/orders/{id}/items/{item}", "/api/v1/orders",
		"/api/v1/products/{sku}", "/api/v1/products/{sku}/reviews", "/api/v2/*",
		"/login", "/logout", "/cart", "/cart/items/{id}", "/checkout/{step}",
	}
	for _, p := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		patterns = append(patterns, "/"+p+"/{id}", "/"+p+"/{id}/"+p)
	}
	return mustNew(b, Config{
		Patterns:        patterns,
		IgnoredPatterns: []string{"/health", "/metrics", "/debug/*"},
		Unmatched:       "heuristic",
	})
}

func benchRoute(b *testing.B, path string) {
	r := benchRouter(b)
	b.ReportAllocs()
	for b.Loop() {
		r.Route(path)
	}
}

func BenchmarkRouteMatched(b *testing.B) {
	benchRoute(b, "/api/v1/orders/12345/items/678?expand=true")
}

func BenchmarkRouteIgnored(b *testing.B) {
	benchRoute(b, "/health")
}

// BenchmarkRouteHeuristic: unmatched, with ids to replace (one allocation).
func BenchmarkRouteHeuristic(b *testing.B) {
	benchRoute(b, "/api/v3/accounts/550e8400-e29b-41d4-a716-446655440000/invoices/2024-01-31/pdf")
}

// BenchmarkRouteHeuristicUnchanged: unmatched, nothing to replace (no
// allocation).
func BenchmarkRouteHeuristicUnchanged(b *testing.B) {
	benchRoute(b, "/api/v3/accounts/settings/notifications")
}
