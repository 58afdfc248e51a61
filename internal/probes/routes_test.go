//go:build linux && amd64

package probes

import (
	"debug/elf"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// The offset of regexp.path in gorilla/mux's Route comes from DWARF when the
// binary has it, and from the mux version otherwise (a binary built with -w
// or stripped still has its build information); both must agree.
func TestGorillaPathOffset(t *testing.T) {
	testserver.Require(t, "go")
	testserver.Require(t, "objcopy")
	bin := testserver.GoBinary(t, "goapps/muxroutes")
	stripped := filepath.Join(t.TempDir(), "muxroutes")
	if out, err := exec.Command("objcopy", "--strip-debug", bin, stripped).CombinedOutput(); err != nil {
		t.Fatalf("objcopy: %v\n%s", err, out)
	}
	offsets := map[string]int64{}
	for _, path := range []string{bin, stripped} {
		f, err := elf.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		_, dwarfErr := f.DWARF()
		off, err := gorillaPathOffset(path, f)
		f.Close()
		if err != nil {
			t.Fatalf("%s (DWARF error: %v): %v", path, dwarfErr, err)
		}
		offsets[path] = off
		if path == stripped && dwarfErr == nil {
			t.Fatal("objcopy --strip-debug left DWARF in place: the fallback is not tested")
		}
	}
	if offsets[bin] != offsets[stripped] || offsets[bin] != 80 {
		t.Errorf("offsets: DWARF %d, version table %d; want both 80 (mux v1.8)", offsets[bin], offsets[stripped])
	}
}

func TestSemverAtLeast(t *testing.T) {
	for _, tt := range []struct {
		v    string
		want bool
	}{
		{"v1.7.0", true}, {"v1.11.0", true}, {"v2.0.0", true}, {"v1.6.3", false}, {"v0.9.0", false},
		{"(devel)", false}, {"", false}, {"v1", false},
	} {
		if got := semverAtLeast(tt.v, 1, 7); got != tt.want {
			t.Errorf("semverAtLeast(%q, 1, 7) = %v", tt.v, got)
		}
	}
}
