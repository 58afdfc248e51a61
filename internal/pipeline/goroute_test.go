package pipeline

import "testing"

func TestMuxRoute(t *testing.T) {
	for in, want := range map[string]string{
		"GET example.com/items/{id}": "/items/{id}",
		"GET /items/{id}":            "/items/{id}",
		"/static/":                   "/static/",
		"POST  /files/{path...}":     "/files/{path...}",
		"example.com/":               "/",
		"/{$}":                       "/",
		"GET /a/{$}\x00junk":         "/a/",
		"":                           "",
	} {
		if got := string(muxRoute([]byte(in))); got != want {
			t.Errorf("muxRoute(%q) = %q, want %q", in, got, want)
		}
	}
}
