package golang

import (
	"bytes"
	"debug/elf"
	"debug/gosym"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Reading Go's own line table (.gopclntab) for binaries without a symbol
// table. Since Go 1.18 the table stores each function's entry as an offset
// from runtime.text, the first byte of Go's code, which is not always the
// start of .text: with the external linker (cgo, and how distributions such
// as Debian build) the C start-up code comes first, and Go's code starts
// later (0x100 bytes later in Debian's caddy and in ld's output here). Where
// runtime.text is written down depends on the Go version:
//
//   - Go 1.18–1.25: the pclntab header's textStart word;
//   - Go 1.26+: that word is 0, and the linker's moduledata (the runtime's
//     table of the module, in a section of its own, .go.module) has it, in
//     its text field.
//
// In a position-independent executable both words are dynamically
// relocated: the value is the relocation's addend, which linkers also
// write in the word itself (and must, for RELR relocations).

// pclntab header magics (runtime/symtab.go, debug/gosym).
const (
	magic12  = 0xfffffffb // Go 1.2–1.15: absolute entries
	magic116 = 0xfffffffa // Go 1.16–1.17: absolute entries
	magic118 = 0xfffffff0 // Go 1.18–1.19: entries relative to runtime.text
	magic120 = 0xfffffff1 // Go 1.20+: same
)

// pclnHeaderSize is the part of the header every check below reads: magic,
// pads, quantum, pointer size and the eight words after them (Go 1.18+).
const pclnHeaderSize = 8 + 8*8

// Offsets in runtime.moduledata (64-bit), the same from Go 1.16 to 1.26:
// pcHeader *pcHeader first, then six slices (funcnametab, cutab, filetab,
// pctab, pclntable, ftab), findfunctab, minpc, maxpc, then text.
const (
	moduledataPCHeader = 0
	moduledataText     = 8 + 6*24 + 3*8
)

// pclnTable is a binary's line table with what its entries count from.
type pclnTable struct {
	*gosym.Table
	// TextStart is runtime.text (0 for tables with absolute entries).
	TextStart uint64
	// From says where TextStart was read.
	From string
}

// readPclntab finds the line table and the address its entries are
// relative to.
func readPclntab(f *elf.File) (*pclnTable, error) {
	data, addr, err := findPclntab(f)
	if err != nil {
		return nil, err
	}
	if len(data) < pclnHeaderSize || data[4] != 0 || data[5] != 0 || data[7] != 8 {
		return nil, fmt.Errorf("the Go line table at %#x has an unknown header", addr)
	}
	t := &pclnTable{}
	// Before Go 1.18 entries are absolute and debug/gosym ignores the base.
	base := uint64(0)
	switch m := binary.LittleEndian.Uint32(data); m {
	case magic12, magic116:
	case magic118, magic120:
		if t.TextStart, t.From, err = textStart(f, addr); err != nil {
			return nil, err
		}
		base = t.TextStart
	default:
		return nil, fmt.Errorf("the Go line table at %#x has an unknown version (magic %#x)", addr, m)
	}
	if t.Table, err = gosym.NewTable(nil, gosym.NewLineTable(data, base)); err != nil {
		return nil, fmt.Errorf("reading the Go line table: %w", err)
	}
	if len(t.Funcs) == 0 {
		return nil, fmt.Errorf("the Go line table at %#x lists no function", addr)
	}
	// Every function must lie in one executable segment: a wrong base
	// would put uprobes (which write into the program's code) at random
	// places.
	first, last := t.Funcs[0].Entry, t.Funcs[len(t.Funcs)-1].End
	if seg := execSegment(f, first); seg == nil || last > seg.Vaddr+seg.Filesz {
		return nil, fmt.Errorf("the Go line table puts functions at %#x-%#x (runtime.text %#x from %s), outside the executable code", first, last, t.TextStart, t.From)
	}
	// And a function known to check its stack bound must begin with that
	// check where the table says it begins: a base off by a few bytes
	// still lands in the code, where instructions may decode by chance.
	if fn := t.LookupFunc("runtime.main"); fn != nil {
		code, _, err := text(f, fn.Entry, min(fn.End-fn.Entry, 16))
		if err != nil || !stackCheck(code) {
			return nil, fmt.Errorf("the Go line table puts runtime.main at %#x (runtime.text %#x from %s), where its code does not start", fn.Entry, t.TextStart, t.From)
		}
	}
	return t, nil
}

// stackCheck says whether code begins with the stack-bound check of a Go
// function with a frame (register ABI, Go 1.17+, where R14 holds the
// goroutine): CMP RSP, [R14+16], or LEA R12, [RSP-n] then CMP R12, [R14+16]
// for large frames.
func stackCheck(code []byte) bool {
	inst, err := x86asm.Decode(code, 64)
	if err != nil {
		return false
	}
	if inst.Op == x86asm.LEA && inst.Args[0] == x86asm.R12 {
		if m, ok := inst.Args[1].(x86asm.Mem); !ok || m.Base != x86asm.RSP {
			return false
		}
		if inst, err = x86asm.Decode(code[inst.Len:], 64); err != nil {
			return false
		}
	}
	if inst.Op != x86asm.CMP {
		return false
	}
	m, ok := inst.Args[1].(x86asm.Mem)
	return ok && m.Base == x86asm.R14 && m.Disp == 16 && (inst.Args[0] == x86asm.RSP || inst.Args[0] == x86asm.R12)
}

// findPclntab returns the line table's bytes (possibly followed by more
// data) and its address.
func findPclntab(f *elf.File) ([]byte, uint64, error) {
	// .data.rel.ro.gopclntab: Go's internal linker in PIE mode before 1.26.
	for _, name := range []string{".gopclntab", ".data.rel.ro.gopclntab"} {
		if s := f.Section(name); s != nil && s.Type != elf.SHT_NOBITS {
			data, err := s.Data()
			if err != nil {
				return nil, 0, fmt.Errorf("reading %s: %w", name, err)
			}
			return data, s.Addr, nil
		}
	}
	// The external linker merges the table into .data.rel.ro in PIE mode
	// (before Go 1.26): moduledata points at it, else its header is
	// searched for.
	if md := f.Section(".go.module"); md != nil {
		if addr, ok := pointerAt(f, md.Addr+moduledataPCHeader); ok {
			if data := segmentData(f, addr); validHeader(data) {
				return data, addr, nil
			}
		}
	}
	if data, addr, ok := searchPclntab(f); ok {
		return data, addr, nil
	}
	return nil, 0, fmt.Errorf("%w: no .symtab and no Go line table (.gopclntab)", ErrNotGo)
}

// searchPclntab looks for a valid line table header in the program's
// non-executable data (the way debuggers and profilers find it in stripped
// PIE binaries).
func searchPclntab(f *elf.File) ([]byte, uint64, bool) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X != 0 {
			continue
		}
		seg := make([]byte, p.Filesz)
		if _, err := p.ReadAt(seg, 0); err != nil {
			continue
		}
		for _, m := range []uint32{magic120, magic118, magic116} {
			var sig [8]byte
			binary.LittleEndian.PutUint32(sig[:], m)
			sig[6], sig[7] = 1, 8 // x86: quantum 1, pointers of 8 bytes
			for off := 0; ; {
				i := bytes.Index(seg[off:], sig[:])
				if i < 0 {
					break
				}
				at := off + i
				if at%8 == 0 && validHeader(seg[at:]) {
					return seg[at:], p.Vaddr + uint64(at), true
				}
				off = at + 1
			}
		}
	}
	return nil, 0, false
}

// validHeader checks what can be checked of a Go 1.16+ header: counts and
// the offsets of its sub-tables, which must be increasing and inside data.
func validHeader(data []byte) bool {
	if len(data) < pclnHeaderSize || data[4] != 0 || data[5] != 0 || data[6] != 1 || data[7] != 8 {
		return false
	}
	word := func(i int) uint64 { return binary.LittleEndian.Uint64(data[8+8*i:]) }
	var offs []uint64
	switch binary.LittleEndian.Uint32(data) {
	case magic116:
		offs = []uint64{word(2), word(3), word(4), word(5), word(6)}
	case magic118, magic120:
		offs = []uint64{word(3), word(4), word(5), word(6), word(7)}
	default:
		return false
	}
	if nfunc := word(0); nfunc == 0 || nfunc > uint64(len(data)) {
		return false
	}
	prev := uint64(0)
	for _, o := range offs {
		if o < prev || o >= uint64(len(data)) || o < pclnHeaderSize {
			return false
		}
		prev = o
	}
	return true
}

// textStart returns runtime.text for a Go 1.18+ line table at pclnAddr, and
// where it was found.
func textStart(f *elf.File, pclnAddr uint64) (uint64, string, error) {
	// A symbol table, if one is left, says it directly.
	if syms, err := f.Symbols(); err == nil {
		for _, s := range syms {
			if s.Name == "runtime.text" && s.Value != 0 {
				return s.Value, "the runtime.text symbol", nil
			}
		}
	}
	// Go 1.26+: moduledata.text, when this moduledata is the table's.
	if md := f.Section(".go.module"); md != nil {
		hdr, ok1 := pointerAt(f, md.Addr+moduledataPCHeader)
		text, ok2 := pointerAt(f, md.Addr+moduledataText)
		if ok1 && ok2 && hdr == pclnAddr && text != 0 {
			return text, "runtime.firstmoduledata (.go.module)", nil
		}
	}
	// Go 1.18–1.25: the header's textStart.
	if text, ok := pointerAt(f, pclnAddr+8+2*8); ok && text != 0 {
		return text, "the line table's header", nil
	}
	return 0, "", errors.New("cannot tell where Go's code starts: no runtime.text symbol, no moduledata (.go.module) and no textStart in the line table's header")
}

// pointerAt reads the pointer stored at vaddr as the program will see it
// once loaded (without the PIE load bias): a RELATIVE relocation's addend
// when there is one, else the word in the file.
func pointerAt(f *elf.File, vaddr uint64) (uint64, bool) {
	if v, ok := relativeAddend(f, vaddr); ok {
		return v, true
	}
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || vaddr < p.Vaddr || vaddr+8 > p.Vaddr+p.Filesz {
			continue
		}
		var b [8]byte
		if _, err := p.ReadAt(b[:], int64(vaddr-p.Vaddr)); err != nil {
			return 0, false
		}
		return binary.LittleEndian.Uint64(b[:]), true
	}
	return 0, false
}

// relativeAddend finds an R_X86_64_RELATIVE relocation of vaddr.
func relativeAddend(f *elf.File, vaddr uint64) (uint64, bool) {
	for _, s := range f.Sections {
		if s.Type != elf.SHT_RELA || s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		data, err := s.Data()
		if err != nil {
			continue
		}
		for i := 0; i+24 <= len(data); i += 24 {
			if binary.LittleEndian.Uint64(data[i:]) != vaddr {
				continue
			}
			info := binary.LittleEndian.Uint64(data[i+8:])
			if elf.R_X86_64(info&0xffffffff) == elf.R_X86_64_RELATIVE {
				return binary.LittleEndian.Uint64(data[i+16:]), true
			}
		}
	}
	return 0, false
}

// segmentData returns the file's bytes from vaddr to the end of its
// loadable segment.
func segmentData(f *elf.File, vaddr uint64) []byte {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || vaddr < p.Vaddr || vaddr >= p.Vaddr+p.Filesz {
			continue
		}
		b := make([]byte, p.Vaddr+p.Filesz-vaddr)
		if _, err := p.ReadAt(b, int64(vaddr-p.Vaddr)); err != nil {
			return nil
		}
		return b
	}
	return nil
}

// execSegment is the executable loadable segment holding vaddr.
func execSegment(f *elf.File, vaddr uint64) *elf.Prog {
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Flags&elf.PF_X != 0 && vaddr >= p.Vaddr && vaddr < p.Vaddr+p.Filesz {
			return p
		}
	}
	return nil
}
