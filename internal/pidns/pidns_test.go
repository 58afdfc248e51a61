//go:build linux

package pidns

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// helperEnv makes the test binary, re-run inside a namespace by the tests
// below, print what Self says there and exit.
const helperEnv = "EBPFRED_PIDNS_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		ns, err := Self("/proc")
		switch {
		case err != nil:
			os.Stdout.WriteString("error: " + err.Error())
		case ns.Initial():
			os.Stdout.WriteString("initial")
		default:
			os.Stdout.WriteString("namespace " + ns.String())
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestKernelDev(t *testing.T) {
	// stat's 0:4 and 8:1 are the kernel's 0x4 and 0x800001
	if got := kernelDev(0, 4); got != 4 {
		t.Errorf("kernelDev(0, 4) = %#x", got)
	}
	if got := kernelDev(8, 1); got != 8<<20|1 {
		t.Errorf("kernelDev(8, 1) = %#x", got)
	}
}

func TestSelfHere(t *testing.T) {
	if _, err := Self("/proc"); err != nil {
		t.Fatal(err)
	}
}

func inNamespace(t *testing.T, args ...string) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("unshare --pid needs root (CI runs as root)")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	cmd := exec.Command("unshare", append(args, os.Args[0], "-test.run=^$")...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("unshare %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// With a /proc of its own namespace, the collector gets that namespace.
func TestSelfInNamespace(t *testing.T) {
	out := inNamespace(t, "--pid", "--fork", "--mount-proc")
	if !strings.HasPrefix(out, "namespace pid:[") {
		t.Errorf("got %q, want a namespace other than the host's", out)
	}
}

// With the host's /proc in a namespace of its own, no pid would match:
// Self says so and what to do.
func TestSelfWithForeignProc(t *testing.T) {
	out := inNamespace(t, "--pid", "--fork")
	if !strings.Contains(out, "belongs to another PID namespace") || !strings.Contains(out, "hostPID") {
		t.Errorf("got %q, want the mismatch explained", out)
	}
}
