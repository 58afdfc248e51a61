// Package portrange owns the port-list syntax of the open_port setting
// ("80,443,8000-8999", the same as Beyla's) and the set it denotes.
package portrange

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Range is an inclusive range of TCP ports, First <= Last.
type Range struct {
	First, Last uint16
}

// Set is a set of TCP ports. The zero value is the empty set. A Set is
// immutable once built and safe for concurrent use.
type Set struct {
	// ranges are sorted, non-overlapping and non-adjacent (merged), so a
	// membership test is one binary search and String is canonical.
	ranges []Range
}

// Parse reads a comma-separated list of ports and inclusive port ranges,
// such as "80,443,8000-8999". Spaces around items and around the dash are
// allowed; ports go from 1 to 65535; items may overlap. The empty (or
// all-blank) string is the empty set.
//
// Errors name the offending item and say how to fix it, e.g.
// `"90-80": range end before start; write "80-90"`.
func Parse(s string) (Set, error) {
	if strings.TrimSpace(s) == "" {
		return Set{}, nil
	}
	items := strings.Split(s, ",")
	ranges := make([]Range, 0, len(items))
	for i, raw := range items {
		item := strings.TrimSpace(raw)
		if item == "" {
			return Set{}, fmt.Errorf("%q: item %d is empty; remove the extra comma", s, i+1)
		}
		r, err := parseItem(item)
		if err != nil {
			return Set{}, err
		}
		ranges = append(ranges, r)
	}
	return Set{ranges: merge(ranges)}, nil
}

// MustParse is Parse for constants known to be valid; it panics otherwise.
func MustParse(s string) Set {
	set, err := Parse(s)
	if err != nil {
		panic(err)
	}
	return set
}

func parseItem(item string) (Range, error) {
	first, last, isRange := strings.Cut(item, "-")
	if !isRange {
		p, err := parsePort(item, item)
		return Range{p, p}, err
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	switch {
	case first == "":
		return Range{}, fmt.Errorf("%q: range without a start; write it as FIRST-LAST, e.g. 8000-8999", item)
	case last == "":
		return Range{}, fmt.Errorf("%q: range without an end; write it as FIRST-LAST, e.g. 8000-8999", item)
	case strings.Contains(last, "-"):
		return Range{}, fmt.Errorf("%q: more than one dash; write a range as FIRST-LAST, e.g. 8000-8999", item)
	}
	lo, err := parsePort(item, first)
	if err != nil {
		return Range{}, err
	}
	hi, err := parsePort(item, last)
	if err != nil {
		return Range{}, err
	}
	if hi < lo {
		return Range{}, fmt.Errorf("%q: range end before start; write %q", item, fmt.Sprintf("%d-%d", hi, lo))
	}
	return Range{lo, hi}, nil
}

// parsePort reads one port number, field, of item (item is what the user
// wrote and what the error quotes).
func parsePort(item, field string) (uint16, error) {
	// ParseUint alone would accept "0x50" with base 0 and "+80" never;
	// base 10 and an explicit digit check keep the syntax plain digits.
	if field == item {
		item = "" // quote the item only once
	} else {
		item = fmt.Sprintf("%q: ", item)
	}
	for _, c := range field {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("%s%q: not a port number; write ports (1-65535) and ranges like 8000-8999, separated by commas", item, field)
		}
	}
	n, err := strconv.ParseUint(field, 10, 64)
	if err != nil || n < 1 || n > 65535 {
		return 0, fmt.Errorf("%s%q: port out of range; ports go from 1 to 65535", item, field)
	}
	return uint16(n), nil
}

// merge sorts ranges and joins the ones that overlap or touch.
func merge(ranges []Range) []Range {
	slices.SortFunc(ranges, func(a, b Range) int { return int(a.First) - int(b.First) })
	out := ranges[:0]
	for _, r := range ranges {
		if n := len(out); n > 0 && int(r.First) <= int(out[n-1].Last)+1 {
			out[n-1].Last = max(out[n-1].Last, r.Last)
			continue
		}
		out = append(out, r)
	}
	return slices.Clip(out)
}

// Contains reports whether port is in the set.
func (s Set) Contains(port uint16) bool {
	// Binary search for the first range whose Last >= port: the only range
	// that can hold port. Written out because slices.BinarySearchFunc's
	// callback costs several times more on this hot path.
	lo, hi := 0, len(s.ranges)
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.ranges[mid].Last < port {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	return lo < len(s.ranges) && s.ranges[lo].First <= port
}

// Empty reports whether the set has no port.
func (s Set) Empty() bool { return len(s.ranges) == 0 }

// Ranges returns the set as sorted, disjoint, non-adjacent ranges (for
// example to fill a kernel map). The caller must not modify the result.
func (s Set) Ranges() []Range { return s.ranges }

// String returns the canonical form of the set: sorted, merged, no spaces,
// e.g. "80,443,8000-8999". Parse(s.String()) equals s.
func (s Set) String() string {
	var b strings.Builder
	for i, r := range s.ranges {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.Itoa(int(r.First)))
		if r.Last != r.First {
			b.WriteByte('-')
			b.WriteString(strconv.Itoa(int(r.Last)))
		}
	}
	return b.String()
}
