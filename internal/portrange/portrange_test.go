package portrange

import (
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in     string
		want   string // canonical String()
		ranges []Range
	}{
		{in: "", want: "", ranges: nil},
		{in: "   ", want: "", ranges: nil},
		{in: "80", want: "80", ranges: []Range{{80, 80}}},
		{in: "80,443,8000-8999", want: "80,443,8000-8999", ranges: []Range{{80, 80}, {443, 443}, {8000, 8999}}},
		{in: " 80 , 443 ,\t8000 - 8999 ", want: "80,443,8000-8999", ranges: []Range{{80, 80}, {443, 443}, {8000, 8999}}},
		{in: "443,80", want: "80,443", ranges: []Range{{80, 80}, {443, 443}}},
		{in: "1,65535", want: "1,65535", ranges: []Range{{1, 1}, {65535, 65535}}},
		{in: "1-65535", want: "1-65535", ranges: []Range{{1, 65535}}},
		{in: "8080-8080", want: "8080", ranges: []Range{{8080, 8080}}},
		{in: "80,80", want: "80", ranges: []Range{{80, 80}}},
		// Overlapping and touching items merge.
		{in: "8000-8100,8050-8200", want: "8000-8200", ranges: []Range{{8000, 8200}}},
		{in: "80,81,82", want: "80-82", ranges: []Range{{80, 82}}},
		{in: "100-200,201-300", want: "100-300", ranges: []Range{{100, 300}}},
		{in: "100-200,150", want: "100-200", ranges: []Range{{100, 200}}},
		{in: "100-200,202", want: "100-200,202", ranges: []Range{{100, 200}, {202, 202}}},
		{in: "5,1-3,4", want: "1-5", ranges: []Range{{1, 5}}},
		// Leading zeros are still decimal.
		{in: "0080", want: "80", ranges: []Range{{80, 80}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.in, err)
			}
			if s := got.String(); s != tt.want {
				t.Errorf("Parse(%q).String() = %q, want %q", tt.in, s, tt.want)
			}
			if !slices.Equal(got.Ranges(), tt.ranges) {
				t.Errorf("Parse(%q).Ranges() = %v, want %v", tt.in, got.Ranges(), tt.ranges)
			}
			if got.Empty() != (len(tt.ranges) == 0) {
				t.Errorf("Parse(%q).Empty() = %v", tt.in, got.Empty())
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"90-80", `"90-80": range end before start; write "80-90"`},
		{"0", `"0": port out of range; ports go from 1 to 65535`},
		{"65536", `"65536": port out of range; ports go from 1 to 65535`},
		{"99999999999999999999999", `"99999999999999999999999": port out of range; ports go from 1 to 65535`},
		{"0-80", `"0-80": "0": port out of range; ports go from 1 to 65535`},
		{"80 - 70000", `"80 - 70000": "70000": port out of range; ports go from 1 to 65535`},
		{"http", `"http": not a port number; write ports (1-65535) and ranges like 8000-8999, separated by commas`},
		{"80 443", `"80 443": not a port number; write ports (1-65535) and ranges like 8000-8999, separated by commas`},
		{"+80", `"+80": not a port number; write ports (1-65535) and ranges like 8000-8999, separated by commas`},
		{"0x50", `"0x50": not a port number; write ports (1-65535) and ranges like 8000-8999, separated by commas`},
		{"80-x", `"80-x": "x": not a port number; write ports (1-65535) and ranges like 8000-8999, separated by commas`},
		{"80;443", `"80;443": not a port number; write ports (1-65535) and ranges like 8000-8999, separated by commas`},
		{"-80", `"-80": range without a start; write it as FIRST-LAST, e.g. 8000-8999`},
		{"80-", `"80-": range without an end; write it as FIRST-LAST, e.g. 8000-8999`},
		{"80-90-100", `"80-90-100": more than one dash; write a range as FIRST-LAST, e.g. 8000-8999`},
		{"80,,443", `"80,,443": item 2 is empty; remove the extra comma`},
		{",80", `",80": item 1 is empty; remove the extra comma`},
		{"80,", `"80,": item 2 is empty; remove the extra comma`},
		{" , ", `" , ": item 1 is empty; remove the extra comma`},
		// The first bad item is reported.
		{"80,90-80,0", `"90-80": range end before start; write "80-90"`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := Parse(tt.in)
			if err == nil {
				t.Fatalf("Parse(%q) = %v, want error %q", tt.in, got, tt.want)
			}
			if err.Error() != tt.want {
				t.Errorf("Parse(%q) error\n got: %s\nwant: %s", tt.in, err, tt.want)
			}
		})
	}
}

func TestContains(t *testing.T) {
	set := MustParse("80,443,8000-8999,65535")
	in := []uint16{80, 443, 8000, 8001, 8500, 8999, 65535}
	out := []uint16{0, 1, 79, 81, 442, 444, 7999, 9000, 65534}
	for _, p := range in {
		if !set.Contains(p) {
			t.Errorf("Contains(%d) = false, want true", p)
		}
	}
	for _, p := range out {
		if set.Contains(p) {
			t.Errorf("Contains(%d) = true, want false", p)
		}
	}

	var empty Set
	for _, p := range []uint16{0, 1, 80, 65535} {
		if empty.Contains(p) {
			t.Errorf("zero Set Contains(%d) = true", p)
		}
	}
	if !empty.Empty() || empty.String() != "" {
		t.Errorf("zero Set: Empty() = %v, String() = %q", empty.Empty(), empty.String())
	}

	all := MustParse("1-65535")
	if all.Contains(0) || !all.Contains(1) || !all.Contains(65535) {
		t.Error("1-65535: wrong membership at the edges")
	}
}

func TestMustParsePanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("MustParse(\"90-80\") did not panic")
		}
	}()
	MustParse("90-80")
}

// FuzzParse checks, for any input Parse accepts, that the set is in
// canonical form, that String round-trips, and that Contains agrees with a
// plain scan of the ranges; and that Parse never panics.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"", "80", "80,443,8000-8999", " 80 , 443 ", "90-80", "0", "65535", "65536",
		"1-65535", "80,,443", "-", "80-90-100", "8000-8100,8050-8200", "0080", "\t1\n-\v2",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		set, err := Parse(s)
		if err != nil {
			if set.Ranges() != nil {
				t.Fatalf("Parse(%q) returned ranges with an error", s)
			}
			return
		}
		rs := set.Ranges()
		for i, r := range rs {
			if r.First < 1 || r.First > r.Last {
				t.Fatalf("Parse(%q): bad range %v", s, r)
			}
			if i > 0 && int(r.First) <= int(rs[i-1].Last)+1 {
				t.Fatalf("Parse(%q): ranges %v and %v not merged", s, rs[i-1], r)
			}
		}
		again, err := Parse(set.String())
		if err != nil {
			t.Fatalf("Parse(%q).String() = %q does not parse: %v", s, set.String(), err)
		}
		if !slices.Equal(again.Ranges(), rs) {
			t.Fatalf("round trip of %q: %v != %v", s, again.Ranges(), rs)
		}
		// Probe every range edge and its neighbours against a linear scan.
		naive := func(p uint16) bool {
			for _, r := range rs {
				if r.First <= p && p <= r.Last {
					return true
				}
			}
			return false
		}
		probes := []uint16{0, 1, 65535}
		for _, r := range rs {
			probes = append(probes, r.First-1, r.First, r.First+1, r.Last-1, r.Last, r.Last+1)
		}
		for _, p := range probes {
			if set.Contains(p) != naive(p) {
				t.Fatalf("Parse(%q).Contains(%d) = %v, want %v", s, p, set.Contains(p), naive(p))
			}
		}
	})
}

func BenchmarkContains(b *testing.B) {
	// A wide list: 200 single ports plus a few ranges.
	items := []string{"3000-3999", "5000-5999", "8000-8999"}
	for p := 10000; p < 10400; p += 2 {
		items = append(items, strconv.Itoa(p))
	}
	set := MustParse(strings.Join(items, ","))
	b.ResetTimer()
	var hits int
	for i := range b.N {
		if set.Contains(uint16(i)) {
			hits++
		}
	}
	_ = hits
}
