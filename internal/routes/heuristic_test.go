package routes

import (
	"strings"
	"testing"
)

// heuristicCorpus is real-looking traffic: the path and the route the
// heuristic gives it.
var heuristicCorpus = []struct{ path, want string }{
	// REST ids
	{"/users/42", "/users/*"},
	{"/users/42/orders/1001/items/3", "/users/*/orders/*/items/*"},
	{"/api/v1/users/42", "/api/v1/users/*"},
	{"/orders/order-1234", "/orders/*"},
	{"/issues/-1", "/issues/*"},
	{"/products/0.5", "/products/*"},
	// UUIDs and ULIDs
	{"/api/v2/accounts/550e8400-e29b-41d4-a716-446655440000/settings", "/api/v2/accounts/*/settings"},
	{"/accounts/550E8400E29B41D4A716446655440000", "/accounts/*"},
	{"/events/01ARZ3NDEKTSV4RRFFQ69G5FAV", "/events/*"},
	// hex hashes, git shas, etags
	{"/blobs/sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", "/blobs/*"},
	{"/commit/9fceb02d0ae598e95dc970b74767f19372d61af8", "/commit/*"},
	{"/cache/deadbeefcafebabe", "/cache/*"},
	// base64 / random tokens, API keys, JWTs
	{"/reset/eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.dBjftJeZ4CVP", "/reset/*"},
	{"/customers/cus_NffrFeUfNV2Hib", "/customers/*"},
	{"/s/NffrFeUfNVHib", "/s/*"},
	{"/share/aGVsbG8gd29ybGQ=", "/share/*"},
	{"/verify/a+b/c", "/verify/*/c"},
	// dates and times
	{"/reports/2024-01-31", "/reports/*"},
	{"/reports/20240131/daily", "/reports/*/daily"},
	{"/logs/2024-01-31T10:00:00Z", "/logs/*"},
	{"/archive/2024/01/january", "/archive/*/*/january"},
	// emails, encoded and non-ASCII content
	{"/users/alice@example.com/profile", "/users/*/profile"},
	{"/search/hello%20world", "/search/*"},
	{"/wiki/Café", "/wiki/*"},
	{"/tag/c++", "/tag/*"},
	// words are kept: names, camelCase, snake/kebab case, acronyms
	{"/api/v1/payment-methods", "/api/v1/payment-methods"},
	{"/api/getUserById", "/api/getUserById"},
	{"/XMLHttpRequest/iPhone", "/XMLHttpRequest/iPhone"},
	{"/order_history/CSV", "/order_history/CSV"},
	{"/.well-known/openid-configuration", "/.well-known/openid-configuration"},
	{"/~docs/index", "/~docs/index"},
	{"/posts/how-to-bake-bread", "/posts/how-to-bake-bread"}, // documented limitation
	// API versions and names with digits
	{"/v1/pets", "/v1/pets"},
	{"/apis/apps/v1beta1/namespaces", "/apis/apps/v1beta1/namespaces"},
	{"/v2beta/x", "/v2beta/x"},
	{"/V3/x", "/V3/x"},
	{"/api/v1.2/items", "/api/v1.2/items"},
	{"/api/v12345/items", "/api/*/items"},
	{"/oauth2/token", "/oauth2/token"},
	{"/ipv6/ec2/s3", "/ipv6/ec2/s3"},
	{"/auth/2fa/sha256/k8s", "/auth/2fa/sha256/k8s"},
	{"/i18n/l10n", "/i18n/l10n"},
	{"/page2", "/page2"}, // one trailing digit: at most ten values
	{"/page22", "/*"},    // two: an id
	{"/user1a", "/*"},    // digits inside: an id
	{"/api/2.0/items", "/api/*/items"},
	// file names
	{"/static/app.min.js", "/static/app.min.js"},
	{"/static/js/main.8f3a1c2e.chunk.js", "/static/js/*.js"},
	{"/favicon.ico", "/favicon.ico"},
	{"/robots.txt", "/robots.txt"},
	{"/img/logo@2x.PNG", "/img/*.PNG"},
	{"/downloads/report-2024-Q1.pdf", "/downloads/*.pdf"},
	{"/fonts/Inter-Regular.woff2", "/fonts/Inter-Regular.woff2"},
	{"/avatars/42.jpg", "/avatars/*.jpg"},
	{"/v1/openapi.json", "/v1/openapi.json"},
	{"/x/2024.unknownext", "/x/*"},
	{"/x/.json", "/x/.json"},
	// shape: trailing and doubled slashes, root, query
	{"/", "/"},
	{"//", "/"},
	{"/users/42/", "/users/*"},
	{"/a//b", "/a/b"},
	{"/users?id=42", "/users"},
	{"/users/42#frag", "/users/*"},
	// our own output is stable
	{"/users/*", "/users/*"},
	{"/static/*.js", "/static/*.js"},
	{"/x/**", "/x/**"},
	{"/x/a*b", "/x/*"},
	// bounds
	{"/" + strings.Repeat("w", maxSegmentLen), "/" + strings.Repeat("w", maxSegmentLen)},
	{"/" + strings.Repeat("w", maxSegmentLen+1), "/*"},
	{"/" + strings.Repeat("a", 100) + ".png", "/*.png"},
	{strings.Repeat("/a", MaxSegments), strings.Repeat("/a", MaxSegments)},
	{strings.Repeat("/a", MaxSegments+1), strings.Repeat("/a", MaxSegments) + "/**"},
	{strings.Repeat("/42", 1000), strings.Repeat("/*", MaxSegments) + "/**"},
	// not a path
	{"", ""},
	{"*", ""},
	{"users/42", ""},
}

func TestHeuristic(t *testing.T) {
	for _, tt := range heuristicCorpus {
		got := Heuristic(tt.path)
		if got != tt.want {
			t.Errorf("Heuristic(%q) = %q, want %q", tt.path, got, tt.want)
		}
		if again := Heuristic(got); got != "" && again != got {
			t.Errorf("Heuristic(%q) = %q, not stable: Heuristic of it = %q", tt.path, got, again)
		}
	}
}

func TestHeuristicBounded(t *testing.T) {
	worst := strings.Repeat("/"+strings.Repeat("w", maxSegmentLen), 2*MaxSegments)
	got := Heuristic(worst)
	if len(got) != MaxRouteLen {
		t.Errorf("worst case: %d bytes, want MaxRouteLen %d", len(got), MaxRouteLen)
	}
	huge := "/" + strings.Repeat("x", 1<<20)
	if n := testing.AllocsPerRun(10, func() { Heuristic(huge) }); n > 1 {
		t.Errorf("1 MiB segment: %v allocations, want at most 1", n)
	}
	if got := Heuristic(huge); got != "/*" {
		t.Errorf("1 MiB segment: %q, want /*", got)
	}
	for _, e := range strings.Fields("js JS Png woff2 xhtml") {
		if !knownExtension("." + e) {
			t.Errorf("extension %q not known", e)
		}
	}
	for e := range extensions {
		if len(e)+1 > maxExtLen {
			t.Errorf("extension %q: longer than maxExtLen", e)
		}
	}
}

func TestIsVersion(t *testing.T) {
	for s, want := range map[string]bool{
		"v1": true, "V2": true, "v10": true, "v1.2": true, "v1.2.3": true, "v2beta": true, "v1beta1": true,
		"v1alpha2": true, "v3rc1": true, "v1rc": true,
		"v": false, "v12345": false, "v1.": false, "v1.2.3.4": false, "v1beta1234": false, "v1gamma": false,
		"va": false, "1": false, "vv1": false, "v1-beta": false,
	} {
		if got := isVersion(s); got != want {
			t.Errorf("isVersion(%q) = %v, want %v", s, got, want)
		}
	}
}
