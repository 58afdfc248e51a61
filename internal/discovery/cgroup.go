package discovery

import (
	"bytes"
	"strings"
)

// cgroupIDs is what a process's cgroup path says about where it runs.
type cgroupIDs struct {
	ContainerID string // 64 hex digits; "" outside a container
	PodUID      string // Kubernetes pod UID with dashes; "" outside a pod
}

// parseCgroup reads /proc/<pid>/cgroup ("hierarchy-ID:controllers:path"
// lines; one "0::path" line on cgroup v2, one per hierarchy on v1) and
// finds the container ID and pod UID that container runtimes write into
// cgroup paths:
//
//	0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod<uid with _>.slice/cri-containerd-<id>.scope
//	0::/kubepods.slice/.../kubepods-besteffort-pod<uid with _>.slice/crio-<id>.scope
//	11:memory:/kubepods/burstable/pod<uid>/<id>             (cgroupfs driver)
//	0::/system.slice/docker-<id>.scope                      (Docker, systemd driver)
//	4:cpu:/docker/<id>                                      (Docker, cgroupfs driver)
//	0::/machine.slice/libpod-<id>.scope/container           (Podman)
//
// Paths may be relative to the reader's cgroup namespace ("/../../kubepods-
// ..."), and containers nest (Docker in Docker, kind): the deepest ID is
// the process's own container. Systemd slice names cannot hold dashes, so
// the kubelet writes pod UIDs there with underscores; they are given back
// their dashes.
func parseCgroup(b []byte) cgroupIDs {
	var ids cgroupIDs
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		// The path is everything after the second colon (it may hold colons).
		i := bytes.IndexByte(line, ':')
		if i < 0 {
			continue
		}
		j := bytes.IndexByte(line[i+1:], ':')
		if j < 0 {
			continue
		}
		c, p := parseCgroupPath(string(line[i+1+j+1:]))
		if ids.ContainerID == "" {
			ids.ContainerID = c
		}
		if ids.PodUID == "" {
			ids.PodUID = p
		}
		if ids.ContainerID != "" && ids.PodUID != "" {
			break
		}
	}
	return ids
}

// parseCgroupPath returns the deepest container ID and pod UID of one path.
func parseCgroupPath(path string) (containerID, podUID string) {
	for seg := range strings.SplitSeq(path, "/") {
		if id := containerIDOf(seg); id != "" {
			containerID = id
		}
		if uid := podUIDOf(seg); uid != "" {
			podUID = uid
		}
	}
	return containerID, podUID
}

// containerIDOf returns the container ID a path segment names, or "":
// "<id>", "<runtime>-<id>.scope" (cri-containerd-, crio-, docker-,
// libpod-, containerd-) or "<runtime>-<id>".
func containerIDOf(seg string) string {
	seg = strings.TrimSuffix(seg, ".scope")
	if strings.HasPrefix(seg, "crio-conmon-") {
		return "" // CRI-O's monitor process, outside the container
	}
	if i := strings.LastIndexByte(seg, '-'); i >= 0 {
		seg = seg[i+1:]
	}
	if len(seg) == 64 && isHex(seg) {
		return seg
	}
	return ""
}

// podUIDOf returns the pod UID a path segment names, or "":
// "pod<uid>" (cgroupfs driver) or "kubepods-<qos>-pod<uid_>.slice"
// (systemd driver, "_" for "-"). Static pods have a 32-hex-digit UID (a
// hash of their manifest) instead of a UUID.
func podUIDOf(seg string) string {
	seg = strings.TrimSuffix(seg, ".slice")
	i := strings.LastIndex(seg, "pod")
	if i < 0 || (i > 0 && seg[i-1] != '-') {
		return ""
	}
	uid := strings.ReplaceAll(seg[i+3:], "_", "-")
	if isUUID(uid) || (len(uid) == 32 && isHex(uid)) {
		return uid
	}
	return ""
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// isUUID reports whether s is 8-4-4-4-12 hex digits.
func isUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if s[i] != '-' {
				return false
			}
			continue
		}
		if !isHex(s[i : i+1]) {
			return false
		}
	}
	return true
}
