package golang

import (
	"debug/elf"
	"os"
	"testing"
)

// runtime.newproc1 keeps callergp (its second argument) in its spill slot,
// 16 bytes above the stack pointer at entry: the go_context probe at its
// RETs reads it there. Checked on this test binary (the Go that builds
// the tests).
func TestArgSpillNewproc1(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f, err := elf.Open(exe)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	funcs, _, err := Lookup(f, "runtime.newproc1")
	if err != nil || funcs["runtime.newproc1"] == nil {
		t.Fatalf("runtime.newproc1: %v", err)
	}
	if off, ok := funcs["runtime.newproc1"].ArgSpill(1); !ok || off != 16 {
		t.Errorf("callergp spilled at %d (%v), want 16", off, ok)
	}
	// a prologue that calls before spilling says nothing
	fn := &Func{prologue: []byte{0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x50, 0xe8, 0, 0, 0, 0, 0x48, 0x89, 0x5c, 0x24, 0x68}}
	if _, ok := fn.ArgSpill(1); ok {
		t.Error("a spill after a call was trusted")
	}
	fn.prologue = []byte{0x55, 0x48, 0x89, 0xe5, 0x48, 0x83, 0xec, 0x50, 0x48, 0x89, 0x5c, 0x24, 0x68}
	if off, ok := fn.ArgSpill(1); !ok || off != 16 {
		t.Errorf("PUSHQ BP; MOVQ SP, BP; SUBQ $0x50, SP; MOVQ BX, 0x68(SP): %d %v, want 16", off, ok)
	}
}
