package discovery

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// netNS reads the network namespace's inode from /proc/<pid>/ns/net, and
// says 0 when it cannot.
func TestNetNS(t *testing.T) {
	link, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Skipf("no /proc/self/ns/net here: %v", err)
	}
	got := netNS("/proc/self")
	if got == 0 || link != "net:["+strconv.FormatUint(got, 10)+"]" {
		t.Errorf("netNS(/proc/self) = %d, the link says %s", got, link)
	}
	if netNS(filepath.Join(t.TempDir(), "none")) != 0 {
		t.Error("a missing process has a network namespace")
	}
}
