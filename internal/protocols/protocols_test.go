package protocols

import (
	"testing"
)

func TestSelect(t *testing.T) {
	all, err := Select(nil)
	if err != nil || len(all) != len(All) {
		t.Fatalf("Select(nil) = %d protocols, %v", len(all), err)
	}
	some, err := Select(map[string]bool{"http2": false, "http": true})
	if err != nil || len(some) != len(All)-1 || some[0].Name == "http2" {
		t.Fatalf("without http2: %v, %v", some, err)
	}
	_, err = Select(map[string]bool{"http3": true, "htpp": false})
	if want := `"htpp", "http3": not a protocol; the protocols are http2, http, postgresql`; err == nil || err.Error() != want {
		t.Errorf("misspelt: %v, want %q", err, want)
	}
}

// Names are unique (they are configuration keys), and every protocol can
// make a parser and lists its conventions.
func TestRegistry(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range All {
		if seen[p.Name] || p.Name == "" || p.Detect == nil || p.New == nil || len(p.Conventions) == 0 {
			t.Errorf("protocol %+v: a unique name, Detect, New and Conventions are required", p)
		}
		seen[p.Name] = true
	}
}
