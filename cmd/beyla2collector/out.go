package main

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// omap is a YAML mapping that keeps its keys in insertion order, with an
// optional comment per key, so that the generated configuration reads like
// a hand-written one: receivers, processors, exporters, service.
type omap struct {
	keys     []string
	vals     map[string]any
	comments map[string]string
}

func newOmap() *omap { return &omap{vals: map[string]any{}, comments: map[string]string{}} }

// set sets k to v, keeping k's place if it is already there.
func (m *omap) set(k string, v any) *omap {
	if _, ok := m.vals[k]; !ok {
		m.keys = append(m.keys, k)
	}
	m.vals[k] = v
	return m
}

// comment attaches a comment above key k.
func (m *omap) comment(k, text string) *omap {
	m.comments[k] = text
	return m
}

// child returns the mapping under k, creating it when absent.
func (m *omap) child(k string) *omap {
	if c, ok := m.vals[k].(*omap); ok {
		return c
	}
	c := newOmap()
	m.set(k, c)
	return c
}

func (m *omap) has(k string) bool { _, ok := m.vals[k]; return ok }

func (m *omap) empty() bool { return len(m.keys) == 0 }

// node renders v as a YAML node.
func node(v any) (*yaml.Node, error) {
	switch x := v.(type) {
	case *omap:
		n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		if x.empty() {
			n.Style = yaml.FlowStyle
		}
		for _, k := range x.keys {
			kn := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: k, HeadComment: x.comments[k]}
			vn, err := node(x.vals[k])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			n.Content = append(n.Content, kn, vn)
		}
		return n, nil
	case map[string]string:
		m := newOmap()
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			m.set(k, x[k])
		}
		return node(m)
	case []string:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for _, s := range x {
			sn, _ := node(s)
			n.Content = append(n.Content, sn)
		}
		return n, nil
	case []float64:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
		for _, f := range x {
			fn, _ := node(f)
			n.Content = append(n.Content, fn)
		}
		return n, nil
	case []*omap:
		n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, e := range x {
			en, err := node(e)
			if err != nil {
				return nil, err
			}
			n.Content = append(n.Content, en)
		}
		return n, nil
	case string, bool, int, float64:
		n := &yaml.Node{}
		if err := n.Encode(x); err != nil {
			return nil, err
		}
		return n, nil
	}
	return nil, fmt.Errorf("cannot render %T", v)
}
