package routes

import (
	"fmt"
	"strings"
)

// MaxSegments is the most segments a pattern may have, and the most the
// heuristic keeps before it ends the route with "/**".
const MaxSegments = 20

type segKind uint8

const (
	segLiteral segKind = iota
	segParam
	segWild
)

// segment is one parsed pattern segment: a literal's text or a parameter's
// name ("" for "*").
type segment struct {
	kind segKind
	text string
}

// parsePattern splits p into segments. problem, when not "", says what is
// wrong and how to fix it, for a message that already names the key and p.
func parsePattern(p string) (segs []segment, problem string) {
	if p == "" {
		return nil, `empty; write a path such as "/users/{id}"`
	}
	if p[0] != '/' {
		return nil, fmt.Sprintf(`must start with "/"; write %q`, "/"+p)
	}
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		return nil, fmt.Sprintf("patterns match the path only; remove %q and what follows: %q", p[i:i+1], p[:i])
	}
	for rest := p; ; {
		var s string
		s, rest = next(rest)
		if s == "" {
			break
		}
		if len(segs) == MaxSegments {
			return nil, fmt.Sprintf("more than %d segments; shorten it, or end it with \"/*\"", MaxSegments)
		}
		switch {
		case s == "*":
			if more, _ := next(rest); more != "" {
				return nil, `"*" must be the last segment; match one segment in the middle with a parameter such as {name}`
			}
			segs = append(segs, segment{kind: segWild})
		case s == "**":
			return nil, `write "*" instead of "**": it already matches any number of trailing segments`
		case strings.Contains(s, "*"):
			return nil, fmt.Sprintf(`"*" must be a whole segment, not part of %q; e.g. "/static/*"`, s)
		case s[0] == '{':
			j := strings.IndexByte(s, '}')
			if j < 0 {
				return nil, `unclosed "{"`
			}
			if j != len(s)-1 {
				return nil, fmt.Sprintf("a parameter must be a whole segment, not part of %q; write it alone, e.g. {id}", s)
			}
			name := s[1:j]
			if problem := checkParamName(name); problem != "" {
				return nil, problem
			}
			segs = append(segs, segment{kind: segParam, text: name})
		case s[0] == ':':
			name := s[1:]
			if problem := checkParamName(name); problem != "" {
				return nil, problem
			}
			segs = append(segs, segment{kind: segParam, text: name})
		case strings.Contains(s, "{"):
			return nil, fmt.Sprintf("a parameter must be a whole segment, not part of %q; write it alone, e.g. {id}", s)
		case strings.Contains(s, "}"):
			return nil, fmt.Sprintf(`"}" without "{" in %q`, s)
		default:
			segs = append(segs, segment{kind: segLiteral, text: s})
		}
	}
	return segs, ""
}

func checkParamName(name string) string {
	if name == "" {
		return "empty parameter name; name it, e.g. {id} or :id"
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isLetter(c) && !isDigit(c) && c != '_' && c != '-' && c != '.' {
			return fmt.Sprintf(`parameter name %q may only contain letters, digits, "_", "-" and "."`, name)
		}
	}
	return ""
}

// shapeOf writes segs without parameter names ({} for any parameter): two
// patterns of the same shape match exactly the same paths.
func shapeOf(segs []segment) string {
	if len(segs) == 0 {
		return "/"
	}
	var b strings.Builder
	for _, s := range segs {
		b.WriteByte('/')
		switch s.kind {
		case segLiteral:
			b.WriteString(s.text)
		case segParam:
			b.WriteString("{}")
		case segWild:
			b.WriteByte('*')
		}
	}
	return b.String()
}

// node is a trie of pattern segments. Each level of the trie consumes one
// path segment, so a match visits every node at most once: matching costs at
// most the size of the trie, whatever the path.
type node struct {
	// Literal children: a slice scanned in order while there are few (most
	// nodes have one or two: cheaper than hashing the segment), a map
	// beyond maxScan.
	literals []edge
	literal  map[string]*node
	param    *node
	route    string // the route of a pattern that ends here; "" if none
	wild     string // the route of a pattern that ends here with "/*"; "" if none
}

type edge struct {
	seg  string
	next *node
}

const maxScan = 8

func (n *node) child(seg string) *node {
	if n.literal != nil {
		return n.literal[seg]
	}
	for i := range n.literals {
		if n.literals[i].seg == seg {
			return n.literals[i].next
		}
	}
	return nil
}

func (n *node) insert(segs []segment, route string) {
	for _, s := range segs {
		switch s.kind {
		case segWild:
			n.wild = route
			return // parsePattern put it last
		case segParam:
			if n.param == nil {
				n.param = &node{}
			}
			n = n.param
		case segLiteral:
			c := n.child(s.text)
			if c == nil {
				c = &node{}
				n.literals = append(n.literals, edge{s.text, c})
				if len(n.literals) > maxScan {
					n.literal = make(map[string]*node, len(n.literals))
					for _, e := range n.literals {
						n.literal[e.seg] = e.next
					}
				}
			}
			n = c
		}
	}
	n.route = route
}

// match returns the route of the most specific pattern that matches path
// (the part of it below n), or "" if none does. Trying the literal child
// first, then the parameter, then "*", and taking the first full match, is
// what makes the leftmost difference decide (see the package doc).
func (n *node) match(path string) string {
	seg, rest := next(path)
	if seg == "" {
		return n.route
	}
	if c := n.child(seg); c != nil {
		if r := c.match(rest); r != "" {
			return r
		}
	}
	if n.param != nil {
		if r := n.param.match(rest); r != "" {
			return r
		}
	}
	return n.wild // rest of the path is not empty here: "*" matches it
}

// next returns the first non-empty segment of p and what follows it; seg is
// "" when p has no segment left.
func next(p string) (seg, rest string) {
	i := 0
	for i < len(p) && p[i] == '/' {
		i++
	}
	p = p[i:]
	if j := strings.IndexByte(p, '/'); j >= 0 {
		return p[:j], p[j:]
	}
	return p, ""
}

func isLetter(c byte) bool { return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }
