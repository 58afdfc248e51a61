package discovery

import "testing"

func TestParseCgroup(t *testing.T) {
	const (
		id  = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
		id2 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
		uid = "8dbc5577-d0e2-4706-8787-57d52c03ddf2"
		esc = "8dbc5577_d0e2_4706_8787_57d52c03ddf2"
	)
	tests := []struct {
		name, in       string
		container, pod string
	}{
		{"containerd, systemd driver, cgroup v2",
			"0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + esc + ".slice/cri-containerd-" + id + ".scope\n",
			id, uid},
		{"containerd, guaranteed QoS (no QoS slice)",
			"0::/kubepods.slice/kubepods-pod" + esc + ".slice/cri-containerd-" + id + ".scope\n",
			id, uid},
		{"containerd, cgroupfs driver, cgroup v2",
			"0::/kubepods/besteffort/pod" + uid + "/" + id + "\n",
			id, uid},
		{"containerd, cgroupfs driver, cgroup v1 (GKE COS)",
			"12:hugetlb:/kubepods/burstable/pod" + uid + "/" + id + "\n" +
				"11:memory:/kubepods/burstable/pod" + uid + "/" + id + "\n" +
				"1:name=systemd:/kubepods/burstable/pod" + uid + "/" + id + "\n" +
				"0::/\n",
			id, uid},
		{"CRI-O, systemd driver",
			"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + esc + ".slice/crio-" + id + ".scope\n",
			id, uid},
		{"CRI-O conmon is outside the container",
			"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + esc + ".slice/crio-conmon-" + id + ".scope\n",
			"", uid},
		{"Docker, systemd driver, cgroup v2",
			"0::/system.slice/docker-" + id + ".scope\n",
			id, ""},
		{"Docker, cgroupfs driver, cgroup v1",
			"13:pids:/docker/" + id + "\n12:memory:/docker/" + id + "\n0::/\n",
			id, ""},
		{"dockershim under the kubelet, systemd driver, cgroup v1",
			"10:cpu,cpuacct:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod" + esc + ".slice/docker-" + id + ".scope\n",
			id, uid},
		{"Podman",
			"0::/machine.slice/libpod-" + id + ".scope/container\n",
			id, ""},
		{"kind: a node container in Docker, a pod inside it (deepest wins)",
			"0::/system.slice/docker-" + id2 + ".scope/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-besteffort.slice/kubelet-kubepods-besteffort-pod" + esc + ".slice/cri-containerd-" + id + ".scope\n",
			id, uid},
		{"path relative to the reader's cgroup namespace",
			"0::/../../kubepods-besteffort-pod" + esc + ".slice/cri-containerd-" + id + ".scope\n",
			id, uid},
		{"systemd inside the container: a sub-cgroup below the scope",
			"0::/kubepods.slice/kubepods-pod" + esc + ".slice/cri-containerd-" + id + ".scope/init.scope\n",
			id, uid},
		{"static pod: the UID is a 32-hex-digit manifest hash",
			"0::/kubepods/burstable/pod0123456789abcdef0123456789abcdef/" + id + "\n",
			id, "0123456789abcdef0123456789abcdef"},
		{"the pod sandbox's slice without a container",
			"0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + esc + ".slice\n",
			"", uid},
		{"host process, systemd service",
			"0::/system.slice/nginx.service\n", "", ""},
		{"host process, user session",
			"0::/user.slice/user-1000.slice/session-3.scope\n", "", ""},
		{"cgroup v1 hybrid with a 32-hex-digit directory (not a container)",
			"4:memory:/process_api/34a516101a2e28d08ff13dc402f573be\n0::/\n", "", ""},
		{"the kubepods root itself", "0::/kubepods.slice\n", "", ""},
		{"63 hex digits is not an ID", "0::/docker/" + id[1:] + "\n", "", ""},
		{"no trailing newline", "0::/docker/" + id, id, ""},
		{"malformed lines", "garbage\n1:x\n\n", "", ""},
		{"empty", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseCgroup([]byte(tt.in))
			if got.ContainerID != tt.container || got.PodUID != tt.pod {
				t.Errorf("parseCgroup = %+v, want container %q pod %q", got, tt.container, tt.pod)
			}
		})
	}
}

func FuzzParseCgroup(f *testing.F) {
	f.Add([]byte("0::/kubepods.slice/kubepods-pod8dbc5577_d0e2_4706_8787_57d52c03ddf2.slice/cri-containerd-0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9.scope\n"))
	f.Add([]byte("4:memory:/docker/abc\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ids := parseCgroup(b)
		if ids.ContainerID != "" && (len(ids.ContainerID) != 64 || !isHex(ids.ContainerID)) {
			t.Fatalf("container id %q", ids.ContainerID)
		}
		if ids.PodUID != "" && !isUUID(ids.PodUID) && !(len(ids.PodUID) == 32 && isHex(ids.PodUID)) {
			t.Fatalf("pod uid %q", ids.PodUID)
		}
	})
}
