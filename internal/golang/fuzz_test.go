package golang

import (
	"testing"

	"golang.org/x/arch/x86/x86asm"
)

// FuzzRets: the code of a function is read from a binary of a process we
// instrument, which may be anything. Rets must not panic, and every offset
// it returns starts an instruction that decodes as a RET (prefixes
// included: the uprobe goes where the instruction starts).
func FuzzRets(f *testing.F) {
	f.Add([]byte{0x48, 0x89, 0xe5, 0xc3})                         // mov rbp, rsp; ret
	f.Add([]byte{0xb8, 0xc3, 0x00, 0x00, 0x00, 0xc3, 0xcc, 0xcc}) // mov eax, 0xc3; ret; int3
	f.Add([]byte{0x0f, 0x1f, 0x44, 0x00, 0x00, 0xc2, 0x08, 0x00}) // nop; ret 8
	f.Add([]byte{0x49, 0x3b, 0x66, 0x10, 0x76, 0x05, 0xe8})       // cmp rsp, [r14+16]; jbe; call (cut)
	f.Fuzz(func(t *testing.T, code []byte) {
		rets, err := Rets(code)
		if err != nil {
			return
		}
		for _, off := range rets {
			if off >= uint64(len(code)) {
				t.Fatalf("Rets(% x) = %v: offset %d is outside the code", code, rets, off)
			}
			if inst, err := x86asm.Decode(code[off:], 64); err != nil || inst.Op != x86asm.RET {
				t.Fatalf("Rets(% x) = %v: offset %d is not a RET (%v, %v)", code, rets, off, inst, err)
			}
		}
	})
}
