// Package golang finds functions in Go executables and the offsets of their
// RET instructions, so that uprobes can be placed at every return of a Go
// function (uretprobes must never be used on Go code: they rewrite the
// return address on the goroutine stack, which breaks stack growth and
// tracebacks).
package golang

import (
	"debug/elf"
	"errors"
	"fmt"

	"golang.org/x/arch/x86/x86asm"
)

// Func is one function of an executable.
type Func struct {
	Name string
	// Addr is the virtual address of the entry, Offset its offset in the
	// file (what a uprobe is attached to).
	Addr, Offset uint64
	Size         uint64
	// Rets are the offsets, relative to the entry, of every RET instruction.
	Rets []uint64
}

// ErrNotGo: the file has neither a Go symbol table nor a .gopclntab.
var ErrNotGo = errors.New("not a Go executable")

// IsGo says whether f was built by the Go toolchain.
func IsGo(f *elf.File) bool {
	return f.Section(".go.buildinfo") != nil || f.Section(".gopclntab") != nil
}

// Lookup finds the named functions and their RET offsets, from .symtab when
// present and from Go's line table (.gopclntab) when the binary was stripped
// (-ldflags=-s, strip(1)); see pclntab.go for where its addresses count from.
// Functions absent from the binary are missing from the map (a program that
// does not use crypto/tls has no crypto/tls.(*Conn).Read). The source says
// where they were found: "symtab" or "gopclntab".
func Lookup(f *elf.File, names ...string) (funcs map[string]*Func, source string, err error) {
	if f.Machine != elf.EM_X86_64 {
		return nil, "", fmt.Errorf("unsupported architecture %v (only x86-64 is supported)", f.Machine)
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	funcs = map[string]*Func{}
	if syms, serr := f.Symbols(); serr == nil && len(syms) > 0 {
		source = "symtab"
		for _, s := range syms {
			if want[s.Name] && elf.ST_TYPE(s.Info) == elf.STT_FUNC && s.Value != 0 {
				funcs[s.Name] = &Func{Name: s.Name, Addr: s.Value, Size: s.Size}
			}
		}
	} else {
		source = "gopclntab"
		tab, terr := readPclntab(f)
		if terr != nil {
			return nil, source, terr
		}
		for n := range want {
			if fn := tab.LookupFunc(n); fn != nil {
				funcs[n] = &Func{Name: n, Addr: fn.Entry, Size: fn.End - fn.Entry}
			}
		}
	}
	for _, fn := range funcs {
		code, off, cerr := text(f, fn.Addr, fn.Size)
		if cerr != nil {
			return nil, source, fmt.Errorf("%s: %w", fn.Name, cerr)
		}
		fn.Offset = off
		if fn.Rets, err = Rets(code); err != nil {
			return nil, source, fmt.Errorf("%s: %w", fn.Name, err)
		}
		if len(fn.Rets) == 0 {
			return nil, source, fmt.Errorf("%s: no RET instruction found", fn.Name)
		}
	}
	return funcs, source, nil
}

// text returns the bytes of [addr, addr+size) and the file offset of addr.
func text(f *elf.File, addr, size uint64) ([]byte, uint64, error) {
	for _, p := range f.Progs {
		if p.Type != elf.PT_LOAD || p.Flags&elf.PF_X == 0 {
			continue
		}
		if addr < p.Vaddr || addr+size > p.Vaddr+p.Filesz {
			continue
		}
		off := addr - p.Vaddr + p.Off
		b := make([]byte, size)
		if _, err := p.ReadAt(b, int64(addr-p.Vaddr)); err != nil {
			return nil, 0, fmt.Errorf("reading code: %w", err)
		}
		return b, off, nil
	}
	return nil, 0, fmt.Errorf("address %#x is in no executable segment", addr)
}

// Rets decodes code instruction by instruction (not byte by byte: 0xC3 is
// also a byte of other instructions' operands) and returns the offsets of
// its RET instructions. Trailing INT3 padding is skipped.
func Rets(code []byte) ([]uint64, error) {
	var out []uint64
	for i := 0; i < len(code); {
		if code[i] == 0xcc { // INT3 padding between functions
			i++
			continue
		}
		inst, err := x86asm.Decode(code[i:], 64)
		if err != nil {
			return nil, fmt.Errorf("cannot decode the instruction at +%#x: %w", i, err)
		}
		if inst.Op == x86asm.RET {
			out = append(out, uint64(i))
		}
		i += inst.Len
	}
	return out, nil
}
