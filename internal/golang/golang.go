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
	// prologue: the first bytes of the code (ArgSpill)
	prologue []byte
}

// intArgRegs are the registers of Go's register ABI (ABIInternal, amd64)
// for integer and pointer arguments, in order.
var intArgRegs = []x86asm.Reg{x86asm.RAX, x86asm.RBX, x86asm.RCX, x86asm.RDI, x86asm.RSI, x86asm.R8, x86asm.R9, x86asm.R10, x86asm.R11}

// ArgSpill says where the function keeps its i-th integer or pointer
// argument (the first i arguments being one register each) for its whole
// run: when its prologue, before any call or jump but the stack check's,
// stores the argument's register into the argument's spill slot, the
// register ABI's home for it in the caller's frame, which only this
// function writes. The answer is that slot's offset from the stack pointer
// at entry, which is the stack pointer at every RET too: a probe at a RET
// reads the argument there, though its register is long reused.
func (fn *Func) ArgSpill(i int) (int64, bool) {
	if i < 0 || i >= len(intArgRegs) {
		return 0, false
	}
	reg := intArgRegs[i]
	var frame int64 = -1
	pushed := int64(0)
	for off := 0; off < len(fn.prologue); {
		inst, err := x86asm.Decode(fn.prologue[off:], 64)
		if err != nil {
			return 0, false
		}
		off += inst.Len
		switch inst.Op {
		case x86asm.CMP, x86asm.JBE, x86asm.MOV, x86asm.LEA:
		case x86asm.PUSH:
			pushed += 8
			continue
		case x86asm.SUB:
			if r, ok := inst.Args[0].(x86asm.Reg); ok && r == x86asm.RSP {
				if imm, ok := inst.Args[1].(x86asm.Imm); ok {
					frame = int64(imm)
				}
			}
			continue
		default:
			return 0, false // a call, a branch, anything else: stop
		}
		if inst.Op != x86asm.MOV || frame < 0 {
			continue
		}
		m, ok := inst.Args[0].(x86asm.Mem)
		src, ok2 := inst.Args[1].(x86asm.Reg)
		if !ok || !ok2 || m.Base != x86asm.RSP || m.Index != 0 || src != reg || inst.MemBytes != 8 {
			continue
		}
		// entry SP + 8 (the return address) + 8*i is the slot
		if at := m.Disp - frame - pushed; at == 8+8*int64(i) {
			return at, true
		}
		return 0, false
	}
	return 0, false
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
		fn.prologue = code[:min(len(code), 64)]
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
