package main

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// note is one line of the report written to standard error.
type note struct {
	key  string // the Beyla key or environment variable, as the user wrote it
	text string
	// dropped: the key was not converted (text says why); otherwise the
	// note says how it was converted.
	dropped bool
}

func (n note) String() string {
	if n.dropped {
		return "not converted: " + n.key + ": " + n.text
	}
	return "note: " + n.key + ": " + n.text
}

// source is a Beyla configuration (its YAML with the environment applied
// on top, as Beyla applies it) and the record of which keys the
// conversion has used. Every key that is not used ends up in a note.
type source struct {
	root    map[string]any
	used    map[string]bool   // paths taken (their whole subtree)
	fromEnv map[string]string // path → the variable that set it
	notes   []note
}

// A path is a list of map keys and list indexes ("[0]").
func pathString(p []string) string {
	var b strings.Builder
	for i, s := range p {
		if i > 0 && !strings.HasPrefix(s, "[") {
			b.WriteByte('.')
		}
		b.WriteString(s)
	}
	return b.String()
}

func idx(i int) string { return "[" + strconv.Itoa(i) + "]" }

// display names a key for the report: its path, and the variable it came
// from when it came from the environment.
func (s *source) display(p []string) string {
	ps := pathString(p)
	if v, ok := s.fromEnv[ps]; ok {
		return v + " (" + ps + ")"
	}
	return ps
}

func (s *source) lookup(p []string) (any, bool) {
	var cur any = s.root
	for _, k := range p {
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[k]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(strings.Trim(k, "[]"))
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// set puts v at p, creating the maps on the way (for values from the
// environment).
func (s *source) set(p []string, v any, env string) {
	m := s.root
	for _, k := range p[:len(p)-1] {
		next, ok := m[k].(map[string]any)
		if !ok {
			next = map[string]any{}
			m[k] = next
		}
		m = next
	}
	m[p[len(p)-1]] = v
	s.fromEnv[pathString(p)] = env
}

// take returns the value at p and marks it used.
func (s *source) take(p ...string) (any, bool) {
	v, ok := s.lookup(p)
	if ok {
		s.used[pathString(p)] = true
	}
	return v, ok
}

func (s *source) drop(p []string, format string, args ...any) {
	s.notes = append(s.notes, note{key: s.display(p), text: fmt.Sprintf(format, args...), dropped: true})
}

func (s *source) note(p []string, format string, args ...any) {
	s.notes = append(s.notes, note{key: s.display(p), text: fmt.Sprintf(format, args...)})
}

// scalar formats a YAML scalar as Beyla reads it into a string field.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case int:
		return strconv.Itoa(x), true
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	case nil:
		return "", true
	}
	return "", false
}

// str takes a string (or any scalar) at p; "" when absent or empty.
func (s *source) str(p ...string) string {
	v, ok := s.take(p...)
	if !ok {
		return ""
	}
	str, ok := scalar(v)
	if !ok {
		s.drop(p, "expected a single value, found %s", describe(v))
		return ""
	}
	return strings.TrimSpace(str)
}

// boolean takes a boolean at p (YAML or "true"/"false" from the
// environment).
func (s *source) boolean(p ...string) (val, set bool) {
	str := s.str(p...)
	if str == "" {
		return false, false
	}
	b, err := strconv.ParseBool(str)
	if err != nil {
		s.drop(p, "%q is not a boolean", str)
		return false, false
	}
	return b, true
}

// duration takes a Go duration at p ("10s").
func (s *source) duration(p ...string) (time.Duration, bool) {
	str := s.str(p...)
	if str == "" {
		return 0, false
	}
	d, err := time.ParseDuration(str)
	if err != nil {
		s.drop(p, "%q is not a duration (write e.g. 30s)", str)
		return 0, false
	}
	return d, true
}

// list takes a list of strings at p: a YAML list, or a comma-separated
// string (the environment's form).
func (s *source) list(p ...string) ([]string, bool) {
	v, ok := s.take(p...)
	if !ok {
		return nil, false
	}
	var out []string
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			str, ok := scalar(e)
			if !ok {
				s.drop(append(slices.Clone(p), idx(i)), "expected a single value, found %s", describe(e))
				continue
			}
			out = append(out, str)
		}
	default:
		str, ok := scalar(v)
		if !ok {
			s.drop(p, "expected a list, found %s", describe(v))
			return nil, false
		}
		for _, f := range strings.Split(str, ",") {
			if f = strings.TrimSpace(f); f != "" {
				out = append(out, f)
			}
		}
	}
	return out, true
}

// floats takes a list of numbers at p.
func (s *source) floats(p ...string) ([]float64, bool) {
	items, ok := s.list(p...)
	if !ok {
		return nil, false
	}
	out := make([]float64, 0, len(items))
	for _, it := range items {
		f, err := strconv.ParseFloat(strings.TrimSpace(it), 64)
		if err != nil {
			s.drop(p, "%q is not a number", it)
			return nil, false
		}
		out = append(out, f)
	}
	return out, true
}

// ports takes a Beyla port list at p: a number, "80,443,8000-8999", or a
// YAML list of either.
func (s *source) ports(p ...string) string {
	items, ok := s.list(p...)
	if !ok {
		return ""
	}
	return strings.Join(items, ",")
}

// mapping returns the map at p without marking it used (its keys are
// taken one by one).
func (s *source) mapping(p ...string) (map[string]any, bool) {
	v, ok := s.lookup(p)
	if !ok {
		return nil, false
	}
	m, isMap := v.(map[string]any)
	if !isMap {
		s.used[pathString(p)] = true
		if v != nil {
			s.drop(p, "expected a mapping, found %s", describe(v))
		}
		return nil, false
	}
	return m, true
}

// items returns the list at p without marking it used.
func (s *source) items(p ...string) ([]any, bool) {
	v, ok := s.lookup(p)
	if !ok {
		return nil, false
	}
	l, isList := v.([]any)
	if !isList {
		s.used[pathString(p)] = true
		if v != nil {
			s.drop(p, "expected a list, found %s", describe(v))
		}
		return nil, false
	}
	return l, true
}

func describe(v any) string {
	switch v.(type) {
	case map[string]any:
		return "a mapping"
	case []any:
		return "a list"
	}
	return fmt.Sprintf("%v", v)
}

// isUsed says whether p or one of its parents was taken.
func (s *source) isUsed(p []string) bool {
	for i := len(p); i > 0; i-- {
		if s.used[pathString(p[:i])] {
			return true
		}
	}
	return false
}

// listIndex matches the index segments of a path, for reason patterns.
var listIndex = regexp.MustCompile(`\[\d+\]`)

// leftovers reports every key the conversion did not take, at the highest
// level where nothing below was taken, with the reason reasonFor gives.
func (s *source) leftovers() {
	var walk func(p []string, v any)
	walk = func(p []string, v any) {
		if len(p) > 0 && s.isUsed(p) {
			return
		}
		pattern := listIndex.ReplaceAllString(pathString(p), "[]")
		m, isMap := v.(map[string]any)
		switch {
		case len(p) == 0:
		case isMap && wholeSections[pattern] && !s.anyUsedBelow(p) && !s.anySetByEnv(p):
			// A feature ebpfred lacks: one line for the section.
			keys := make([]string, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			s.notes = append(s.notes, note{key: s.display(p) + " (" + strings.Join(keys, ", ") + ")", text: reasonFor(pattern), dropped: true})
			return
		case isMap && len(m) > 0:
			// Descend: the report names the keys.
		case isMap || !isList(v):
			s.drop(p, "%s", reasonFor(pattern))
			return
		case !s.anyUsedBelow(p) && !listOfMaps(v):
			s.drop(p, "%s", reasonFor(pattern))
			return
		}
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				walk(append(slices.Clone(p), k), x[k])
			}
		case []any:
			for i, e := range x {
				walk(append(slices.Clone(p), idx(i)), e)
			}
		}
	}
	walk(nil, s.root)
}

// wholeSections are reported in one line when nothing in them was taken:
// they configure something ebpfred does not have at all.
var wholeSections = map[string]bool{
	"network": true, "stats": true, "filter": true, "name_resolver": true, "grafana": true, "nodejs": true,
	"javaagent": true, "injector": true, "jvm_runtime_metrics": true, "processes": true, "topology": true,
	"sigil_export": true, "health_check": true, "metrics": true, "discovery.survey": true, "attributes.select": true,
	"discovery.services[].metrics": true, "discovery.instrument[].metrics": true,
	"discovery.services[].routes": true, "discovery.instrument[].routes": true,
	"discovery.services[].sampler": true, "discovery.instrument[].sampler": true,
	"prometheus_export.native_histogram": true, "otel_metrics_export.exponential_histogram": true,
}

func isList(v any) bool { _, ok := v.([]any); return ok }

func listOfMaps(v any) bool {
	l, _ := v.([]any)
	for _, e := range l {
		if _, ok := e.(map[string]any); ok {
			return true
		}
	}
	return false
}

// anySetByEnv says whether a key under p came from a variable (the
// report must then name the variable).
func (s *source) anySetByEnv(p []string) bool {
	prefix := pathString(p) + "."
	for k := range s.fromEnv {
		if strings.HasPrefix(k, prefix) {
			return true
		}
	}
	return false
}

// anyUsedBelow says whether a key under p was taken.
func (s *source) anyUsedBelow(p []string) bool {
	prefix := pathString(p)
	for k := range s.used {
		if strings.HasPrefix(k, prefix+".") || strings.HasPrefix(k, prefix+"[") {
			return true
		}
	}
	return false
}
