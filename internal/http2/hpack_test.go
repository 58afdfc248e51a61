package http2

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// recorder is a fieldSink that keeps "name: value", or "?" for a field
// whose name could not be known.
type recorder struct{ fields []string }

func (r *recorder) field(name, value []byte) {
	r.fields = append(r.fields, string(name)+": "+string(value))
}
func (r *recorder) unknownField() { r.fields = append(r.fields, "?") }

// randomFields draws a header list with repeats (so the encoder indexes),
// fresh values (so it inserts), long values and sensitive fields.
func randomFields(rng *rand.Rand) []hpack.HeaderField {
	names := []string{":method", ":path", ":authority", ":status", "content-type", "grpc-status", "traceparent",
		"user-agent", "x-request-id", "cookie", "accept-encoding", "X-Custom-Thing", "te"}
	var fs []hpack.HeaderField
	for range 1 + rng.IntN(12) {
		name := names[rng.IntN(len(names))]
		var value string
		switch rng.IntN(5) {
		case 0:
			value = fmt.Sprintf("v%d", rng.IntN(1_000_000)) // fresh
		case 1:
			value = strings.Repeat("long", rng.IntN(300))
		case 2:
			value = string([]byte{byte(rng.IntN(256)), byte(rng.IntN(256)), 0xff})
		default:
			value = fmt.Sprintf("r%d", rng.IntN(4)) // repeated
		}
		if name == ":method" && rng.IntN(2) == 0 {
			value = "GET"
		}
		fs = append(fs, hpack.HeaderField{Name: strings.ToLower(name), Value: value, Sensitive: rng.IntN(20) == 0})
	}
	return fs
}

// truth decodes a block with x/net's decoder.
func truth(t *testing.T, d *hpack.Decoder, blk []byte) []string {
	t.Helper()
	fs, err := d.DecodeFull(blk)
	if err != nil {
		t.Fatalf("x/net decoder: %v", err)
	}
	var out []string
	for _, f := range fs {
		out = append(out, f.Name+": "+f.Value)
	}
	return out
}

// TestDecodeMatchesXNet: with a table followed from the start (and sizes
// within maxTableStore) every field is known and equal to what x/net's
// decoder reads, including after table size updates.
func TestDecodeMatchesXNet(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	enc.SetMaxDynamicTableSizeLimit(maxTableStore)
	ref := hpack.NewDecoder(defaultTableSize, nil)
	ref.SetAllowedMaxDynamicTableSize(maxTableStore)
	ref.SetMaxStringLength(1 << 20)
	var d decoder
	tbl := newTable(true)
	for i := range 3000 {
		buf.Reset()
		if rng.IntN(50) == 0 {
			enc.SetMaxDynamicTableSize(uint32(rng.IntN(maxTableStore + 1)))
		}
		for _, f := range randomFields(rng) {
			must(enc.WriteField(f))
		}
		blk := bytes.Clone(buf.Bytes())
		want := truth(t, ref, blk)
		var got recorder
		d.contradictions = 0
		if r := d.decode(&tbl, blk, &got); r != decodeOK || d.contradictions != 0 {
			t.Fatalf("block %d: result %d, %d contradictions", i, r, d.contradictions)
		}
		if fmt.Sprint(got.fields) != fmt.Sprint(want) {
			t.Fatalf("block %d:\n got  %q\n want %q", i, got.fields, want)
		}
		if tbl.partial {
			t.Fatalf("block %d: table partial", i)
		}
	}
}

// TestDecodeNeverInvents: decoding starts in the middle of a connection, the
// encoder's table may outgrow our store, and blocks are lost now and then.
// Every field reported known must be exactly the field at that place.
func TestDecodeNeverInvents(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	enc.SetMaxDynamicTableSizeLimit(4 * maxTableStore)
	ref := hpack.NewDecoder(defaultTableSize, nil)
	ref.SetAllowedMaxDynamicTableSize(4 * maxTableStore)
	ref.SetMaxStringLength(1 << 20)
	var d decoder
	tbl := newTable(false)
	watching := false
	var known, unknown, settled int
	for i := range 5000 {
		buf.Reset()
		if rng.IntN(100) == 0 {
			enc.SetMaxDynamicTableSize(uint32(rng.IntN(4*maxTableStore + 1)))
		}
		for _, f := range randomFields(rng) {
			must(enc.WriteField(f))
		}
		blk := bytes.Clone(buf.Bytes())
		want := truth(t, ref, blk)
		switch {
		case i < 200:
			continue // before we started
		case rng.IntN(100) == 0:
			tbl.lose() // a block went by unseen
			continue
		case rng.IntN(100) == 0:
			// A block cut by the copy limit: its prefix is exact.
			blk = blk[:rng.IntN(len(blk)+1)]
			want = nil
		}
		watching = true
		var got recorder
		r := d.decode(&tbl, blk, &got)
		if want == nil {
			tbl.lose()
			continue
		}
		if r != decodeOK || d.contradictions != 0 {
			t.Fatalf("block %d: result %d, %d contradictions", i, r, d.contradictions)
		}
		if len(got.fields) != len(want) {
			t.Fatalf("block %d: %d fields, want %d", i, len(got.fields), len(want))
		}
		for k, f := range got.fields {
			if f == "?" {
				unknown++
				continue
			}
			known++
			if f != want[k] {
				t.Fatalf("block %d field %d: got %q, want %q", i, k, f, want[k])
			}
		}
		if !tbl.partial {
			settled++
		}
	}
	if !watching || known == 0 || unknown == 0 || settled == 0 {
		t.Errorf("weak test: %d known, %d unknown fields, %d blocks with a whole table", known, unknown, settled)
	}
	t.Logf("%d known, %d unknown fields; %d blocks decoded with a whole table", known, unknown, settled)
}

func TestTable(t *testing.T) {
	tbl := newTable(false)
	field := func(i int) string {
		n, v, ok, in := tbl.lookup(i)
		switch {
		case ok:
			return string(n) + "=" + string(v)
		case in:
			return "?"
		}
		return "-"
	}
	tbl.insert([]byte("a"), false, []byte("1"))
	tbl.insert(nil, true, []byte("2")) // a hole: name unknown
	if field(1) != "?" || field(2) != "a=1" || field(3) != "?" || !tbl.partial {
		t.Fatalf("after inserts: %s %s %s partial=%v", field(1), field(2), field(3), tbl.partial)
	}
	// Without a known table size nothing more can be said; with one, once
	// the known entries fill the table no entry can hide behind them.
	for i := range 200 {
		tbl.insert([]byte("k"), false, []byte(fmt.Sprintf("%04d", i)))
	}
	if !tbl.partial {
		t.Fatalf("whole without a known size")
	}
	tbl.setMax(defaultTableSize)
	for i := range 200 {
		tbl.insert([]byte("k"), false, []byte(fmt.Sprintf("%04d", i)))
	}
	if tbl.partial || field(1) != "k=0199" || tbl.size > defaultTableSize {
		t.Fatalf("full table: partial=%v first=%s size=%d", tbl.partial, field(1), tbl.size)
	}
	if field(tbl.len()+1) != "-" {
		t.Fatalf("past the end of a whole table: %s", field(tbl.len()+1))
	}
	// A size update to 0 empties it; an entry bigger than the table does
	// too.
	tbl.lose()
	tbl.setMax(0)
	if tbl.partial || tbl.len() != 0 {
		t.Fatalf("after size 0: partial=%v len=%d", tbl.partial, tbl.len())
	}
	tbl.setMax(100)
	tbl.insert([]byte("x"), false, bytes.Repeat([]byte("y"), 100))
	if tbl.partial || tbl.len() != 0 {
		t.Fatalf("after an oversized entry: partial=%v len=%d", tbl.partial, tbl.len())
	}
	// An encoder table larger than our store: the oldest entries go to the
	// unknown tail.
	tbl.setMax(4 * maxTableStore)
	for i := range 3 * maxTableStore / 64 {
		tbl.insert([]byte("n"), false, bytes.Repeat([]byte{byte('a' + i%26)}, 31))
	}
	if !tbl.partial || tbl.size > maxTableStore || field(1) == "?" || field(tbl.len()+1) != "?" {
		t.Fatalf("capped table: partial=%v size=%d", tbl.partial, tbl.size)
	}
}

func TestReadInt(t *testing.T) {
	for _, tc := range []struct {
		in     []byte
		prefix uint8
		v, n   int
		ok     bool
	}{
		{[]byte{0x0a}, 5, 10, 1, true},
		{[]byte{0x1f, 0x9a, 0x0a}, 5, 1337, 3, true}, // RFC 7541 C.1.2
		{[]byte{0x2a}, 8, 42, 1, true},
		{[]byte{0x1f, 0x9a}, 5, 0, 0, false},
		{[]byte{0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}, 7, maxIntValue + 1, 7, true},
	} {
		v, n, ok := readInt(tc.in, tc.prefix)
		if v != tc.v || n != tc.n || ok != tc.ok {
			t.Errorf("readInt(%x, %d) = %d, %d, %v; want %d, %d, %v", tc.in, tc.prefix, v, n, ok, tc.v, tc.n, tc.ok)
		}
	}
}

// TestDecodeMalformed: bad blocks are reported, never panic, and lose
// nothing they should not.
func TestDecodeMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		blk  []byte
		want decodeResult
	}{
		{"index 0", []byte{0x80}, decodeMalformed},
		{"bad huffman", []byte{0x00, 0x81, 0xff, 0x81, 0xff}, decodeMalformed},
		{"string past the end", []byte{0x40, 0x05, 'a'}, decodeCut},
		{"integer past the end", []byte{0xff}, decodeCut},
		{"huge string", []byte{0x00, 0x7f, 0xff, 0xff, 0xff, 0x7f}, decodeMalformed},
	} {
		var d decoder
		tbl := newTable(true)
		var r recorder
		if got := d.decode(&tbl, tc.blk, &r); got != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, got, tc.want)
		}
	}
}

// FuzzHPACK: wherever x/net's decoder accepts a sequence of blocks, ours,
// following the table from the start, reads the same fields.
func FuzzHPACK(f *testing.F) {
	rng := rand.New(rand.NewPCG(5, 6))
	for range 8 {
		var buf bytes.Buffer
		enc := hpack.NewEncoder(&buf)
		var seed []byte
		for range 4 {
			buf.Reset()
			for _, fl := range randomFields(rng) {
				must(enc.WriteField(fl))
			}
			seed = append(seed, byte(buf.Len()>>8), byte(buf.Len()))
			seed = append(seed, buf.Bytes()...)
		}
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ref := hpack.NewDecoder(defaultTableSize, nil)
		ref.SetMaxStringLength(1 << 16)
		var d decoder
		tbl := newTable(true)
		for len(data) >= 2 {
			n := min(int(data[0])<<8|int(data[1]), len(data)-2)
			blk := data[2 : 2+n]
			data = data[2+n:]
			var got recorder
			r := d.decode(&tbl, blk, &got)
			fs, err := ref.DecodeFull(blk)
			if err != nil {
				return // x/net is stricter (or the block is bad): tables may differ now
			}
			if r != decodeOK || d.contradictions != 0 || tbl.partial {
				t.Fatalf("x/net decodes %x, we: result %d, %d contradictions, partial %v", blk, r, d.contradictions, tbl.partial)
			}
			if len(got.fields) != len(fs) {
				t.Fatalf("%x: %q, x/net %v", blk, got.fields, fs)
			}
			for i, fl := range fs {
				if got.fields[i] != fl.Name+": "+fl.Value {
					t.Fatalf("%x: field %d %q, x/net %q: %q", blk, i, got.fields[i], fl.Name, fl.Value)
				}
			}
			if tbl.size > maxTableStore || len(tbl.data) > 2*maxTableStore {
				t.Fatalf("table over its bounds: size %d, %d bytes", tbl.size, len(tbl.data))
			}
		}
	})
}
