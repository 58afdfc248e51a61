package main

import (
	"fmt"
	"regexp"
	"strings"
)

// globToRegexp turns a Beyla glob (discovery.instrument and its
// k8s_*/exe_path values, BEYLA_AUTO_TARGET_EXE) into an anchored Go
// regular expression that matches the same strings. Beyla's globs are
// gobwas/glob patterns compiled without separators: `*` matches any
// sequence (slashes included), `?` one character, `[abc]`, `[a-z]` and
// `[!abc]` classes, `{a,b}` alternatives (which may nest), `\` escapes the
// next character.
func globToRegexp(glob string) (string, error) {
	var b strings.Builder
	b.WriteString("^")
	rest, err := globSeq(&b, glob, 0)
	if err != nil {
		return "", fmt.Errorf("glob %q: %w", glob, err)
	}
	if rest != "" {
		return "", fmt.Errorf("glob %q: unexpected %q", glob, rest)
	}
	b.WriteString("$")
	re := b.String()
	if _, err := regexp.Compile(re); err != nil {
		return "", fmt.Errorf("glob %q: %w", glob, err)
	}
	return re, nil
}

// globSeq translates s up to its end, or, inside depth levels of {…}, up
// to the ',' or '}' that ends the current alternative, which it returns
// with the rest of s.
func globSeq(b *strings.Builder, s string, depth int) (string, error) {
	for s != "" {
		c := s[0]
		switch {
		case c == '*':
			b.WriteString(".*")
			s = s[1:]
		case c == '?':
			b.WriteString(".")
			s = s[1:]
		case c == '\\':
			if len(s) < 2 {
				return "", fmt.Errorf("trailing backslash")
			}
			b.WriteString(regexp.QuoteMeta(s[1:2]))
			s = s[2:]
		case c == '[':
			end := strings.IndexByte(s[1:], ']')
			if end < 0 {
				return "", fmt.Errorf("unclosed [")
			}
			class := s[1 : end+1]
			s = s[end+2:]
			neg := strings.HasPrefix(class, "!")
			if neg {
				class = class[1:]
			}
			if class == "" {
				return "", fmt.Errorf("empty character class")
			}
			b.WriteString("[")
			if neg {
				b.WriteString("^")
			}
			// Inside a class only these are special to Go's regexp.
			b.WriteString(strings.NewReplacer(`\`, `\\`, `[`, `\[`, `]`, `\]`, `^`, `\^`).Replace(class))
			b.WriteString("]")
		case c == '{':
			b.WriteString("(?:")
			s = s[1:]
			for {
				var err error
				if s, err = globSeq(b, s, depth+1); err != nil {
					return "", err
				}
				if s == "" {
					return "", fmt.Errorf("unclosed {")
				}
				if s[0] == '}' {
					s = s[1:]
					break
				}
				b.WriteString("|") // s[0] == ','
				s = s[1:]
			}
			b.WriteString(")")
		case depth > 0 && (c == ',' || c == '}'):
			return s, nil
		default:
			b.WriteString(regexp.QuoteMeta(s[:1]))
			s = s[1:]
		}
	}
	return "", nil
}
