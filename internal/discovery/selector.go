package discovery

import (
	"os"
	"path/filepath"
	"regexp"

	"github.com/ebpfred/ebpfred/internal/kube"
)

// Selector is one compiled entry of a discovery list (see SelectorConfig).
// It matches a process when every criterion it sets matches; a Selector
// with nothing set matches nothing.
type Selector struct {
	// Name and Namespace become service.name and service.namespace of the
	// processes the selector selects (empty: discovered).
	Name, Namespace string
	// Ports reports whether a listening port selects the process.
	Ports func(port uint16) bool
	// ExePath is matched against the executable's full path.
	ExePath *regexp.Regexp
	// ContainersOnly requires the process to run in a container.
	ContainersOnly bool

	k8sNamespace, k8sPodName, k8sContainerName                 *regexp.Regexp
	k8sDeployment, k8sReplicaSet, k8sStatefulSet, k8sDaemonSet *regexp.Regexp
	k8sJob, k8sCronJob, k8sOwner                               *regexp.Regexp
	k8sLabels, k8sAnnotations                                  []keyRegexp
}

type keyRegexp struct {
	key string
	re  *regexp.Regexp
}

// PodLookup is the Kubernetes metadata discovery consults
// (*kube.Store implements it).
type PodLookup interface {
	ByContainerID(id string) *kube.Pod
	ByUID(uid string) *kube.Pod
}

func (s *Selector) usesKube() bool {
	return s.k8sNamespace != nil || s.k8sPodName != nil || s.k8sContainerName != nil ||
		s.k8sDeployment != nil || s.k8sReplicaSet != nil || s.k8sStatefulSet != nil ||
		s.k8sDaemonSet != nil || s.k8sJob != nil || s.k8sCronJob != nil || s.k8sOwner != nil ||
		len(s.k8sLabels) > 0 || len(s.k8sAnnotations) > 0
}

func (s *Selector) empty() bool {
	return s.Ports == nil && s.ExePath == nil && !s.ContainersOnly && !s.usesKube()
}

// usesCgroup reports whether matching reads the process's cgroup.
func (s *Selector) usesCgroup() bool { return s.ContainersOnly || s.usesKube() }

// matches checks the criteria cheapest first: the listening ports, which
// cost a read of the network tables and of every fd, come last.
func (s *Selector) matches(c *candidate) bool {
	if s.empty() {
		return false
	}
	if s.ExePath != nil && !s.ExePath.MatchString(c.exe) {
		return false
	}
	if s.ContainersOnly {
		if ids := c.cgroup(); ids.ContainerID == "" && ids.PodUID == "" {
			return false
		}
	}
	if s.usesKube() && !s.matchesPod(c.pod()) {
		return false
	}
	if s.Ports != nil && !c.listensOn(s.Ports) {
		return false
	}
	return true
}

func (s *Selector) matchesPod(p *kube.Pod) bool {
	if p == nil {
		return false // the pod is not known (yet): Kubernetes criteria cannot hold
	}
	for _, m := range []struct {
		re *regexp.Regexp
		v  string
	}{
		{s.k8sNamespace, p.Namespace}, {s.k8sPodName, p.Name}, {s.k8sContainerName, p.ContainerName},
		{s.k8sDeployment, p.Deployment}, {s.k8sReplicaSet, p.ReplicaSet}, {s.k8sStatefulSet, p.StatefulSet},
		{s.k8sDaemonSet, p.DaemonSet}, {s.k8sJob, p.Job}, {s.k8sCronJob, p.CronJob},
	} {
		// An unset owner ("" deployment) does not match even a regexp
		// that matches the empty string: "k8s_deployment_name: .*" means
		// "pods of some Deployment".
		if m.re != nil && (m.v == "" || !m.re.MatchString(m.v)) {
			return false
		}
	}
	if s.k8sOwner != nil && !anyOwnerMatches(s.k8sOwner, p) {
		return false
	}
	for _, kv := range s.k8sLabels {
		if v, ok := p.Labels[kv.key]; !ok || !kv.re.MatchString(v) {
			return false
		}
	}
	for _, kv := range s.k8sAnnotations {
		if v, ok := p.Annotations[kv.key]; !ok || !kv.re.MatchString(v) {
			return false
		}
	}
	return true
}

func anyOwnerMatches(re *regexp.Regexp, p *kube.Pod) bool {
	for _, n := range []string{p.Deployment, p.ReplicaSet, p.StatefulSet, p.DaemonSet, p.CronJob, p.Job} {
		if n != "" && re.MatchString(n) {
			return true
		}
	}
	return false
}

// candidate is one process under evaluation; each fact is read from /proc
// (or the pod cache) once, on first use.
type candidate struct {
	d      *Discovery
	pid    uint32
	dir    string // /proc/<pid>
	exe    string
	listen map[string]map[uint64]uint16 // shared by one scan: netns → inode → port

	cgLoaded  bool
	cg        cgroupIDs
	podLoaded bool
	pd        *kube.Pod
}

func (c *candidate) cgroup() cgroupIDs {
	if !c.cgLoaded {
		c.cgLoaded = true
		if b, err := os.ReadFile(filepath.Join(c.dir, "cgroup")); err == nil {
			c.cg = parseCgroup(b)
		}
	}
	return c.cg
}

// pod returns the process's pod: by container ID, else by pod UID (the
// container may not be in the pod's status yet, or be the sandbox).
func (c *candidate) pod() *kube.Pod {
	if !c.podLoaded {
		c.podLoaded = true
		if c.d.pods != nil {
			ids := c.cgroup()
			if ids.ContainerID != "" {
				c.pd = c.d.pods.ByContainerID(ids.ContainerID)
			}
			if c.pd == nil && ids.PodUID != "" {
				c.pd = c.d.pods.ByUID(ids.PodUID)
			}
		}
	}
	return c.pd
}

func (c *candidate) listensOn(ports func(uint16) bool) bool {
	return listensOn(c.dir, ports, c.listen)
}
