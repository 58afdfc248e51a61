package discovery

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/ebpfred/ebpfred/internal/kube"
	"github.com/ebpfred/ebpfred/internal/process"
)

// Resource attribute keys discovery adds to process.Info.Extra.
const (
	AttrHostID                 = "host.id"
	AttrContainerID            = "container.id"
	AttrK8sNamespaceName       = "k8s.namespace.name"
	AttrK8sPodName             = "k8s.pod.name"
	AttrK8sPodUID              = "k8s.pod.uid"
	AttrK8sContainerName       = "k8s.container.name"
	AttrK8sNodeName            = "k8s.node.name"
	AttrK8sDeploymentName      = "k8s.deployment.name"
	AttrK8sReplicaSetName      = "k8s.replicaset.name"
	AttrK8sStatefulSetName     = "k8s.statefulset.name"
	AttrK8sDaemonSetName       = "k8s.daemonset.name"
	AttrK8sJobName             = "k8s.job.name"
	AttrK8sCronJobName         = "k8s.cronjob.name"
	annotationServiceName      = kube.ResourceAnnotationPrefix + "service.name"
	annotationServiceNamespace = kube.ResourceAnnotationPrefix + "service.namespace"
)

// identify builds the identity of a selected process (see the package
// documentation for the order in which names are chosen).
func (d *Discovery) identify(c *candidate, sel *Selector) *process.Info {
	info := &process.Info{
		PID:            c.pid,
		ExecutablePath: c.exe,
		ExecutableName: filepath.Base(c.exe),
	}
	if cmd, err := os.ReadFile(filepath.Join(c.dir, "cmdline")); err == nil {
		if i := bytes.IndexByte(cmd, 0); i >= 0 {
			cmd = cmd[:i]
		}
		info.Command = string(cmd)
	}
	env := readEnv(filepath.Join(c.dir, "environ"))
	pod := c.pod()
	info.ServiceName = serviceName(sel, env, pod, info.ExecutableName)
	info.ServiceNamespace = serviceNamespace(sel, env, pod)

	extra := map[string]string{}
	put := func(k, v string) {
		if v != "" {
			extra[k] = v
		}
	}
	put(AttrHostID, d.hostID)
	ids := c.cgroup()
	put(AttrContainerID, ids.ContainerID)
	put(AttrK8sPodUID, ids.PodUID)
	if pod != nil {
		podAttributes(pod, put)
	}
	if len(extra) > 0 {
		info.Extra = extra
	}
	info.StartTimeUnixNano = d.startTime(c.pid)
	info.InstanceID = d.instanceID(c.pid, info.StartTimeUnixNano)
	info.NetNS = netNS(c.dir)
	return info
}

// netNS returns the inode of the network namespace of the process whose
// /proc directory is dir, 0 when it cannot be read.
func netNS(dir string) uint64 {
	l, err := os.Readlink(filepath.Join(dir, "ns", "net")) // "net:[4026531840]"
	if err != nil {
		return 0
	}
	n, err := strconv.ParseUint(strings.TrimSuffix(strings.TrimPrefix(l, "net:["), "]"), 10, 64)
	if err != nil {
		return 0
	}
	return n
}

// serviceName chooses service.name: the selecting entry's name, the
// process's own OTEL_* environment, the pod's resource annotation, its
// workload, the executable.
func serviceName(sel *Selector, env envInfo, pod *kube.Pod, exeName string) string {
	switch {
	case sel != nil && sel.Name != "":
		return sel.Name
	case env.serviceName != "":
		return env.serviceName
	case pod != nil && pod.Annotations[annotationServiceName] != "":
		return pod.Annotations[annotationServiceName]
	case pod != nil && pod.OwnerName() != "":
		return pod.OwnerName()
	}
	return exeName
}

// serviceNamespace chooses service.namespace the same way, ending with the
// Kubernetes namespace (semconv) rather than with nothing.
func serviceNamespace(sel *Selector, env envInfo, pod *kube.Pod) string {
	switch {
	case sel != nil && sel.Namespace != "":
		return sel.Namespace
	case env.serviceNamespace != "":
		return env.serviceNamespace
	case pod != nil && pod.Annotations[annotationServiceNamespace] != "":
		return pod.Annotations[annotationServiceNamespace]
	case pod != nil:
		return pod.Namespace
	}
	return ""
}

// podAttributes writes the k8s.* resource attributes of pod, then its
// resource.opentelemetry.io/ annotations (semconv: each becomes the
// attribute it names), which cannot override what is set before them.
func podAttributes(pod *kube.Pod, put func(k, v string)) {
	put(AttrK8sNamespaceName, pod.Namespace)
	put(AttrK8sPodName, pod.Name)
	put(AttrK8sPodUID, pod.UID) // the API's UID wins over a static pod's cgroup hash
	put(AttrK8sContainerName, pod.ContainerName)
	put(AttrK8sNodeName, pod.NodeName)
	put(AttrK8sDeploymentName, pod.Deployment)
	put(AttrK8sReplicaSetName, pod.ReplicaSet)
	put(AttrK8sStatefulSetName, pod.StatefulSet)
	put(AttrK8sDaemonSetName, pod.DaemonSet)
	put(AttrK8sJobName, pod.Job)
	put(AttrK8sCronJobName, pod.CronJob)
	for k, v := range pod.Annotations {
		attr, ok := strings.CutPrefix(k, kube.ResourceAnnotationPrefix)
		if !ok || attr == "" || attr == "service.name" || attr == "service.namespace" || isK8sAttr(attr) {
			continue
		}
		put(attr, v)
	}
}

func isK8sAttr(k string) bool {
	return strings.HasPrefix(k, "k8s.") || k == AttrContainerID || k == AttrHostID
}

// readHostID returns host.id: the machine ID (systemd's, or D-Bus's), else
// the DMI product UUID (readable by root only), else "".
func readHostID(root string) string {
	for _, p := range []string{"etc/machine-id", "var/lib/dbus/machine-id", "sys/class/dmi/id/product_uuid"} {
		b, err := os.ReadFile(filepath.Join(root, p))
		if err != nil {
			continue
		}
		if s := strings.TrimSpace(string(b)); s != "" && s != "uninitialized" {
			return s
		}
	}
	return ""
}
