//go:build linux && amd64

package pipeline

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/probes"
)

// A process started through a launcher that execs the selected executable
// (a pyenv shim: bash, then bash again, then python) is judged on every
// exec event, each on the executable /proc shows when the event is read.
// An event read while the launcher still ran says "not selected", and its
// drop can delete the kernel's entry after the process has exec'd the
// selected executable: the exec hook, finding the entry still there, added
// none. The event of that last exec must track the process again: it is
// the only one left. A process that has exited by then must stay
// untracked (its exit, already past, will never remove an entry).
//
// Real probes, discovery and processes; the events are the ones the ring
// holds, handed over in the order the reader reads them.
func TestExecEventTracksAfterStaleDrop(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("loading eBPF programs needs root (CI runs as root)")
	}
	sleep, err := exec.LookPath("sleep")
	if err != nil {
		t.Skip("no sleep executable")
	}
	target := filepath.Join(t.TempDir(), "ebpfred-exec-target")
	copyExecutable(t, sleep, target)

	prb, err := probes.Load(probes.Options{RingBufferSize: 1 << 20, TrackExecs: true})
	if err != nil {
		t.Fatal(err)
	}
	defer prb.Close()
	disc := discovery.New(discovery.Config{Criteria: discovery.Criteria{ExePath: regexp.MustCompile(`/ebpfred-exec-target$`)},
		Exclude: []int{os.Getpid()}})
	sink := &recSink{}
	p := New(sink, disc, prb, &Stats{}, Options{})
	execEvent := func(pid int, exe string) {
		p.Handle(&probes.Event{Type: probes.EventExec, TGID: uint32(pid), Payload: []byte(exe + "\x00")})
	}

	// A launcher: sh, which execs the target once told to.
	launcher := startCmd(t, "/bin/sh", "-c", `read go; exec "$0" 30`, target)
	pid := launcher.cmd.Process.Pid
	// (Start returns once exec closed the child's close-on-exec fds,
	// which comes before the kernel's exec hook runs.)
	waitTracked(t, prb, pid)
	io.WriteString(launcher.stdin, "go\n")
	waitExe(t, pid, target)
	// The launcher's exec event, judged while it still ran sh: not
	// selected. Its drop lands after the exec above, which left the entry.
	p.drop(uint32(pid))
	if _, ok := prb.Tracks(uint32(pid)); ok {
		t.Fatalf("pid %d still tracked after drop", pid)
	}
	execEvent(pid, target) // the target's exec event
	if disc.Lookup(uint32(pid)) == nil {
		t.Fatalf("pid %d (%s) not selected", pid, target)
	}
	if flags, ok := prb.Tracks(uint32(pid)); !ok || flags != probes.FlagConfirmed {
		t.Errorf("pid %d selected and running %s, but the kernel tracks it: %v (flags %d); its requests would go uncounted",
			pid, target, ok, flags)
	}

	// A target that has exited (a zombie: /proc still lists it) before
	// its exec event is read: selected by the event's path, not tracked.
	gone := startCmd(t, target, "0")
	gpid := gone.cmd.Process.Pid
	waitZombie(t, gpid)
	if _, ok := prb.Tracks(uint32(gpid)); ok {
		t.Fatalf("pid %d exited but the exit hook left it tracked", gpid)
	}
	execEvent(gpid, target)
	if _, ok := prb.Tracks(uint32(gpid)); ok {
		t.Errorf("pid %d had exited before its exec event was read, and is tracked again: an entry no exit removes", gpid)
	}
	p.Handle(&probes.Event{Type: probes.EventExit, TGID: uint32(gpid)})
	if disc.Lookup(uint32(gpid)) != nil {
		t.Errorf("pid %d still selected after its exit event", gpid)
	}
}

type startedCmd struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startCmd(t *testing.T, name string, args ...string) *startedCmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	return &startedCmd{cmd: cmd, stdin: stdin}
}

func copyExecutable(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o755); err != nil {
		t.Fatal(err)
	}
}

// waitTracked waits until the kernel tracks pid.
func waitTracked(t *testing.T, prb *probes.Probes, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, ok := prb.Tracks(uint32(pid)); ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d: the exec hook did not track it provisionally", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitExe waits until pid runs exe.
func waitExe(t *testing.T, pid int, exe string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if l, _ := os.Readlink("/proc/" + strconv.Itoa(pid) + "/exe"); l == exe {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not exec %s", pid, exe)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitZombie waits until pid has exited and is not reaped yet.
func waitZombie(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
		if i := strings.LastIndexByte(string(b), ')'); i > 0 && strings.HasPrefix(string(b[i+1:]), " Z") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pid %d did not exit", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
