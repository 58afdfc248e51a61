package http2

import (
	"bytes"

	"golang.org/x/net/http2/hpack"
)

// HPACK (RFC 7541) decoding with a dynamic table that may be only partly
// known.
//
// The dynamic table is indexed from its newest entry, and eviction removes
// the oldest. So when header blocks were lost, the entries inserted since
// the loss are still exactly the newest ones, at the lowest dynamic
// indices, whatever older entries sit behind them: the table is modelled as
// a known prefix (newest entries, in order) followed by an unknown tail. A
// reference into the prefix is exact; one past it is unknown. Losing a block
// (its insertions are unknown and newer than everything known) clears the
// prefix.
//
// Sizes are exact for entries we saw whole and lower bounds for entries whose
// name we could not know, so the model may keep an entry the encoder has
// already evicted, which is harmless: the encoder never references it. When
// the table size in effect is known (from the connection start or a size
// update seen since the last loss) and the known entries fill the table so
// that no 32-byte entry could sit behind them, the tail is known to be empty
// and the table is whole again. Without a known size, evictions use the
// default size: evicting too early only turns later references unknown.

const (
	// entryOverhead is the per-entry size of RFC 7541 §4.1.
	entryOverhead = 32
	// defaultTableSize is SETTINGS_HEADER_TABLE_SIZE's initial value.
	defaultTableSize = 4096
	// maxTableStore bounds the bytes of dynamic table kept per direction.
	// Encoders larger than this lose their oldest entries to the unknown
	// tail.
	maxTableStore = 8 << 10
	// maxIntValue bounds HPACK integers (indices, lengths, sizes).
	maxIntValue = 1 << 24
)

// tableEntry is a dynamic table entry whose name and value sit in
// table.data. A hole is an entry whose name could not be known.
type tableEntry struct {
	off, nlen, vlen int32
	hole            bool
}

func (e tableEntry) size() int { return int(e.nlen+e.vlen) + entryOverhead }

// table is the decoder side of one direction's dynamic table.
type table struct {
	ents []tableEntry // ents[head:] are known, oldest first
	head int
	data []byte // arena holding the names and values of ents[head:]
	size int    // HPACK size of the known entries
	max  int    // table size in effect (a guess unless maxKnown)
	// partial: unknown entries may sit behind the known ones.
	partial  bool
	maxKnown bool
}

// newTable returns a table at the start of a connection (known: empty, of
// the default size) or in the middle of one.
func newTable(known bool) table {
	return table{max: defaultTableSize, partial: !known, maxKnown: known}
}

func (t *table) len() int { return len(t.ents) - t.head }

// lose forgets the table: header blocks were missed or cut.
func (t *table) lose() {
	t.ents, t.head, t.data, t.size = t.ents[:0], 0, t.data[:0], 0
	t.partial, t.maxKnown = true, false
}

// lookup returns dynamic entry i (1 = newest); ok is false when it is not
// known, inRange false when it cannot exist.
func (t *table) lookup(i int) (name, value []byte, ok, inRange bool) {
	if i < 1 || i > t.len() {
		return nil, nil, false, t.partial
	}
	e := t.ents[len(t.ents)-i]
	if e.hole {
		return nil, nil, false, true
	}
	return t.data[e.off : e.off+e.nlen], t.data[e.off+e.nlen : e.off+e.nlen+e.vlen], true, true
}

// evictOldest drops the oldest known entry.
func (t *table) evictOldest() {
	t.size -= t.ents[t.head].size()
	t.head++
	if t.head == len(t.ents) {
		t.ents, t.head, t.data = t.ents[:0], 0, t.data[:0]
	}
}

// fit evicts until extra more bytes fit, first as the encoder does (max),
// then to bound our memory (partial from then on).
func (t *table) fit(extra int) {
	for t.len() > 0 && t.size+extra > t.max {
		t.evictOldest()
	}
	for t.len() > 0 && t.size+extra > maxTableStore {
		t.evictOldest()
		t.partial = true
	}
}

// setMax applies a dynamic table size update.
func (t *table) setMax(n int) {
	t.max, t.maxKnown = n, true
	t.fit(0)
	if n == 0 {
		t.partial = false // an empty table is known
	}
	t.settle()
}

// insert adds an entry; for a hole (name unknown) name is nil and the size
// counted is a lower bound.
func (t *table) insert(name []byte, hole bool, value []byte) {
	sz := len(name) + len(value) + entryOverhead
	if sz > t.max {
		if !t.maxKnown {
			t.lose() // it may fit in the encoder's table
			return
		}
		// RFC 7541 §4.4: an entry larger than the table empties it.
		// Its true size is at least sz, so this holds for a hole too.
		t.ents, t.head, t.data, t.size = t.ents[:0], 0, t.data[:0], 0
		t.partial = false
		return
	}
	if sz > maxTableStore {
		t.lose() // the encoder keeps it, we cannot
		return
	}
	t.fit(sz)
	t.compact(len(name) + len(value))
	off := len(t.data)
	t.data = append(t.data, name...)
	t.data = append(t.data, value...)
	t.ents = append(t.ents, tableEntry{off: int32(off), nlen: int32(len(name)), vlen: int32(len(value)), hole: hole})
	t.size += sz
	t.settle()
}

// compact makes room for need more arena bytes without growing the arena
// past twice the store bound: the live entries are moved to its start.
func (t *table) compact(need int) {
	if t.head > 0 && t.head >= len(t.ents)/2 {
		n := copy(t.ents, t.ents[t.head:])
		t.ents, t.head = t.ents[:n], 0
	}
	if len(t.data)+need <= 2*maxTableStore || len(t.ents) == 0 {
		return
	}
	start := t.ents[t.head].off
	n := copy(t.data, t.data[start:])
	t.data = t.data[:n]
	for i := t.head; i < len(t.ents); i++ {
		t.ents[i].off -= start
	}
}

// settle marks the table whole when no entry could hide behind the known
// ones.
func (t *table) settle() {
	if t.partial && t.maxKnown && t.size+entryOverhead > t.max {
		t.partial = false
	}
}

// fieldSink receives decoded header fields: field for a field known
// exactly (name and value are valid only during the call), unknownField for
// one whose name could not be known (a reference past the known table).
type fieldSink interface {
	field(name, value []byte)
	unknownField()
}

// decodeResult says how a header block decoding ended.
type decodeResult uint8

const (
	decodeOK        decodeResult = iota
	decodeCut                    // the block ended inside a representation (it was truncated)
	decodeMalformed              // not valid HPACK
)

// decoder holds scratch space for Huffman-decoded strings.
type decoder struct {
	nameBuf, valBuf bytes.Buffer
	// contradictions counts references past a table believed whole.
	contradictions int
}

// contradict handles a reference past a table we believed whole: the table
// was wrong, so it is lost (the field itself is reported unknown).
func (d *decoder) contradict(t *table) {
	d.contradictions++
	t.lose()
}

// decode decodes a header block (or the prefix of one) with t, passing
// fields to sink. Fields before a cut or an error are exact. When the result
// is not decodeOK the caller must lose t: the rest of the block may have
// changed it.
func (d *decoder) decode(t *table, p []byte, sink fieldSink) decodeResult {
	for len(p) > 0 {
		b := p[0]
		switch {
		case b&0x80 != 0: // indexed field
			i, n, ok := readInt(p, 7)
			if !ok {
				return decodeCut
			}
			p = p[n:]
			if i == 0 {
				return decodeMalformed
			}
			if i <= len(staticTable) {
				f := &staticTable[i-1]
				sink.field(f.name, f.value)
				continue
			}
			name, value, known, inRange := t.lookup(i - len(staticTable))
			if !inRange {
				d.contradict(t)
			}
			if known {
				sink.field(name, value)
			} else {
				sink.unknownField()
			}
		case b&0xe0 == 0x20: // dynamic table size update
			v, n, ok := readInt(p, 5)
			if !ok {
				return decodeCut
			}
			p = p[n:]
			t.setMax(v)
		default: // literal field
			indexing := b&0xc0 == 0x40
			prefix := uint8(4)
			if indexing {
				prefix = 6
			}
			i, n, ok := readInt(p, prefix)
			if !ok {
				return decodeCut
			}
			rest := p[n:]
			var name []byte
			nameKnown := true
			switch {
			case i == 0:
				s, m, r := d.readString(rest, &d.nameBuf)
				if r != decodeOK {
					return r
				}
				name, rest = s, rest[m:]
			case i <= len(staticTable):
				name = staticTable[i-1].name
			default:
				nm, _, known, inRange := t.lookup(i - len(staticTable))
				if !inRange {
					d.contradict(t)
				}
				name, nameKnown = nm, known
			}
			value, m, r := d.readString(rest, &d.valBuf)
			if r != decodeOK {
				return r
			}
			p = rest[m:]
			if nameKnown {
				sink.field(name, value)
			} else {
				sink.unknownField()
			}
			if indexing {
				// A name from the dynamic table points into t.data, which
				// insert may move: copy it out first.
				if nameKnown && i > len(staticTable) {
					d.nameBuf.Reset()
					d.nameBuf.Write(name)
					name = d.nameBuf.Bytes()
				}
				t.insert(name, !nameKnown, value)
			}
		}
	}
	return decodeOK
}

// readString reads an HPACK string literal; it returns the string (in p or,
// Huffman-decoded, in buf) and the bytes it took from p.
func (d *decoder) readString(p []byte, buf *bytes.Buffer) ([]byte, int, decodeResult) {
	if len(p) == 0 {
		return nil, 0, decodeCut
	}
	huff := p[0]&0x80 != 0
	l, n, ok := readInt(p, 7)
	if !ok {
		return nil, 0, decodeCut
	}
	if l > len(p)-n {
		if l > maxIntValue {
			return nil, 0, decodeMalformed
		}
		return nil, 0, decodeCut
	}
	s := p[n : n+l]
	if !huff {
		return s, n + l, decodeOK
	}
	buf.Reset()
	if _, err := hpack.HuffmanDecode(buf, s); err != nil {
		return nil, 0, decodeMalformed
	}
	return buf.Bytes(), n + l, decodeOK
}

// readInt reads an HPACK integer with an n-bit prefix (RFC 7541 §5.1). ok is
// false when p ends inside it; values over maxIntValue are clamped above it
// (callers treat them as out of range).
func readInt(p []byte, n uint8) (v, used int, ok bool) {
	if len(p) == 0 {
		return 0, 0, false
	}
	mask := 1<<n - 1
	v = int(p[0]) & mask
	if v < mask {
		return v, 1, true
	}
	shift := uint(0)
	for i := 1; i < len(p); i++ {
		b := p[i]
		if shift < 28 {
			v += int(b&0x7f) << shift
		} else {
			v = maxIntValue + 1
		}
		shift += 7
		if b&0x80 == 0 {
			return min(v, maxIntValue+1), i + 1, true
		}
	}
	return 0, 0, false
}
