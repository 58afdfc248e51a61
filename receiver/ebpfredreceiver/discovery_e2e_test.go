package ebpfredreceiver

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/testserver"
)

// discovery.services through the real receiver: a port selector with a
// configured name, an executable selector, an exclusion that wins, a
// process started after the collector, and one that exits.
func TestDiscoveryServicesThroughReceiver(t *testing.T) {
	requireRoot(t)
	goSrv := testserver.StartGo(t)
	nodeSrv := testserver.StartNode(t)
	h := startReceiver(t, func(c *Config) {
		c.Discovery.Services = []discovery.SelectorConfig{
			{Name: "checkout", Namespace: "shop", OpenPorts: strconv.Itoa(goSrv.Port)},
			{ExePathRegexp: "python"},
			{OpenPorts: strconv.Itoa(nodeSrv.Port)},
		}
		c.Discovery.ExcludeServices = []discovery.SelectorConfig{{ExePathRegexp: "node"}}
	})
	// Started after the collector: picked up by exec tracking / rescans.
	// python3 may be a launcher that execs it (a pyenv shim: bash, then
	// python under one pid); its requests must count all the same.
	pySrv := testserver.StartPython(t)
	waitTracked(t, h, goSrv.PID, pySrv.PID) // exec tracking or a rescan, whichever comes first
	for _, s := range []*testserver.Server{goSrv, nodeSrv, pySrv} {
		testserver.Drive(t, s.Base(), []testserver.Request{{Path: "/status/200"}, {Path: "/status/404"}}, true)
	}
	spans := h.waitSpans(4, isServer)
	// Only the processes started here are judged: go test runs packages
	// side by side, and another package's python server is rightly selected
	// by the same executable selector.
	ours := map[string]bool{fmt.Sprint(goSrv.PID): true, fmt.Sprint(nodeSrv.PID): true, fmt.Sprint(pySrv.PID): true}
	byService := map[string]int{}
	for _, s := range spans {
		if !ours[fmt.Sprint(s.resource.AsRaw()["process.pid"])] {
			continue
		}
		byService[fmt.Sprint(s.resource.AsRaw()["service.name"], "/", s.resource.AsRaw()["service.namespace"], " ", s.resource.AsRaw()["process.pid"])]++
	}
	want := map[string]int{
		fmt.Sprintf("checkout/shop %d", goSrv.PID):                     2,
		fmt.Sprintf("%s/<nil> %d", pyServiceName(t, pySrv), pySrv.PID): 2,
	}
	if fmt.Sprint(byService) != fmt.Sprint(want) {
		t.Errorf("spans by service: %v, want %v (node excluded)", byService, want)
	}

	// The python server exits: it leaves discovery and the kernel's map.
	// Its own entry is looked at, not the map's size: with an executable
	// selector every process exec'd on the host is tracked provisionally
	// until the collector has judged it, so the size moves on its own.
	r := h.receiver()
	pid := uint32(pySrv.PID)
	if _, ok := r.probes.Tracks(pid); !ok {
		t.Errorf("python server %d selected, but the kernel does not track it", pid)
	}
	pySrv.Stop()
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, tracked := r.probes.Tracks(pid)
		selected := r.disc.Lookup(pid) != nil
		if !tracked && !selected {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exited process still tracked 5 s after it exited: discovery %v, kernel map %v (%d events read)",
				selected, tracked, r.stats.EventsRead.Load())
		}
		time.Sleep(50 * time.Millisecond)
	}
	h.stop()
}

// pyServiceName is what a python server with no OTEL_SERVICE_NAME is
// called: its executable's name.
func pyServiceName(t *testing.T, s *testserver.Server) string {
	info := discovery.New(discovery.Config{Criteria: discovery.Criteria{Ports: func(p uint16) bool { return int(p) == s.Port }}})
	info.Scan()
	i := info.Lookup(uint32(s.PID))
	if i == nil {
		t.Fatalf("python server %d not found by port", s.PID)
	}
	return i.ServiceName
}
