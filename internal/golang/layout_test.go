package golang

import (
	"debug/elf"
	"net/http"
	"net/url"
	"os"
	"testing"
	"unsafe"

	"github.com/ebpfred/ebpfred/internal/testserver"
)

// go test links its binaries without DWARF: look at a built program. (The
// walk through embedded and nested struct values is checked on gorilla/mux's
// Route in internal/probes.)
func TestFieldOffset(t *testing.T) {
	testserver.Require(t, "go")
	bin := testserver.GoBinary(t, "goapps/goroutes")
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var r http.Request
	var u url.URL
	for _, tt := range []struct {
		typ    string
		fields []string
		want   uintptr
	}{
		{"net/http.Request", []string{"URL"}, unsafe.Offsetof(r.URL)},
		{"net/http.Request", []string{"Header"}, unsafe.Offsetof(r.Header)},
		{"net/url.URL", []string{"Path"}, unsafe.Offsetof(u.Path)},
	} {
		got, err := FieldOffset(f, tt.typ, tt.fields...)
		if err != nil || got != int64(tt.want) {
			t.Errorf("FieldOffset(%s, %v) = %d, %v; want %d", tt.typ, tt.fields, got, err, tt.want)
		}
	}
	for _, bad := range [][]string{{"nope"}, {"URL", "Path"}, {"Method", "x"}} {
		if off, err := FieldOffset(f, "net/http.Request", bad...); err == nil {
			t.Errorf("FieldOffset(Request, %v) = %d, want an error (not a field, or a pointer/string walked into)", bad, off)
		}
	}
	if _, err := FieldOffset(f, "no/such.Type", "x"); err == nil {
		t.Error("FieldOffset of a missing type: no error")
	}
}

func TestModuleVersion(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if v := ModuleVersion(exe, "go.uber.org/zap"); v != "" {
		t.Logf("zap %s", v) // linked only if a test import pulls it in
	}
	if v := ModuleVersion(exe, "no.such/module"); v != "" {
		t.Errorf("ModuleVersion of an absent module = %q", v)
	}
	if v := ModuleVersion("/nonexistent", "x"); v != "" {
		t.Errorf("ModuleVersion of a missing file = %q", v)
	}
}
