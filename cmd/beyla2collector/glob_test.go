package main

import (
	"regexp"
	"testing"
)

func TestGlobToRegexp(t *testing.T) {
	for _, c := range []struct {
		glob, re string
		match    []string
		noMatch  []string
	}{
		{"*prometheus", `^.*prometheus$`, []string{"/bin/prometheus", "prometheus"}, []string{"/bin/prometheus2"}},
		{"frontend", `^frontend$`, []string{"frontend"}, []string{"frontend-1", "a-frontend"}},
		{"prometheus-*", `^prometheus-.*$`, []string{"prometheus-0"}, []string{"xprometheus-0"}},
		{"*otelcol-contrib[!/]*", `^.*otelcol-contrib[^/].*$`, []string{"/usr/bin/otelcol-contrib2"}, []string{"/usr/bin/otelcol-contrib/x"}},
		{"app-?", `^app-.$`, []string{"app-1"}, []string{"app-10"}},
		{"{shop,cart}-*", `^(?:shop|cart)-.*$`, []string{"shop-1", "cart-2"}, []string{"shopx-1"}},
		{"a{b,c{d,e}}f", `^a(?:b|c(?:d|e))f$`, []string{"abf", "acdf", "acef"}, []string{"acf"}},
		{"v1.2", `^v1\.2$`, []string{"v1.2"}, []string{"v1x2"}},
		{`a\*b`, `^a\*b$`, []string{"a*b"}, []string{"axb"}},
		{"[a-c]x", `^[a-c]x$`, []string{"bx"}, []string{"dx"}},
		{"*", `^.*$`, []string{"", "anything/at/all"}, nil},
	} {
		got, err := globToRegexp(c.glob)
		if err != nil {
			t.Errorf("%q: %v", c.glob, err)
			continue
		}
		if got != c.re {
			t.Errorf("%q: %q, want %q", c.glob, got, c.re)
			continue
		}
		re := regexp.MustCompile(got)
		for _, s := range c.match {
			if !re.MatchString(s) {
				t.Errorf("%q (%s) does not match %q", c.glob, got, s)
			}
		}
		for _, s := range c.noMatch {
			if re.MatchString(s) {
				t.Errorf("%q (%s) matches %q", c.glob, got, s)
			}
		}
	}
	for _, bad := range []string{"[abc", "{a,b", `a\`, "[]"} {
		if re, err := globToRegexp(bad); err == nil {
			t.Errorf("%q: %q, want an error", bad, re)
		}
	}
}
