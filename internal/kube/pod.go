package kube

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ResourceAnnotationPrefix marks pod annotations that are resource
// attributes (semconv: resource.opentelemetry.io/service.name becomes
// service.name). They are always kept.
const ResourceAnnotationPrefix = "resource.opentelemetry.io/"

// Pod is what ebpfred knows of a pod of this node. Lookups return a new
// value each time; its Labels and Annotations maps are shared with the
// informer's cache and must not be modified.
type Pod struct {
	UID       string
	Name      string
	Namespace string
	NodeName  string
	Labels    map[string]string
	// Annotations holds only the resource.opentelemetry.io/ annotations and
	// those a discovery selector asks for (see Options.Annotations).
	Annotations map[string]string

	// The pod's controllers, as far as they are known: Deployment is set
	// for a pod of a ReplicaSet that a Deployment manages, CronJob for a pod
	// of a Job that a CronJob created.
	ReplicaSet  string
	Deployment  string
	StatefulSet string
	DaemonSet   string
	Job         string
	CronJob     string

	// ContainerName is the container the lookup was made for; empty when
	// the pod was found by UID, or the container is not in the pod's
	// status yet.
	ContainerName string
}

// OwnerName is the name of the workload the pod belongs to, in the order
// the semantic conventions derive service.name from Kubernetes attributes:
// deployment, replicaset, statefulset, daemonset, cronjob, job, then the
// pod itself.
func (p *Pod) OwnerName() string {
	for _, n := range []string{p.Deployment, p.ReplicaSet, p.StatefulSet, p.DaemonSet, p.CronJob, p.Job} {
		if n != "" {
			return n
		}
	}
	return p.Name
}

// controllerOf returns the pod's managing controller reference, or nil.
func controllerOf(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// TrimContainerID removes the runtime scheme of a container status ID:
// "containerd://abc" → "abc" (also cri-o://, docker://).
func TrimContainerID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		return id[i+3:]
	}
	return id
}

// deploymentFromHash derives a Deployment name without asking the API
// server: the Deployment controller names its ReplicaSets
// <deployment>-<pod-template-hash> and labels their pods with that hash, so
// a pod carrying the label belongs to a Deployment whose name is the
// ReplicaSet's minus the hash.
func deploymentFromHash(rs string, labels map[string]string) string {
	h := labels["pod-template-hash"]
	if h == "" {
		return ""
	}
	if name, ok := strings.CutSuffix(rs, "-"+h); ok && name != "" {
		return name
	}
	return ""
}

// stripPod keeps only what ebpfred reads of a pod, so that the informer's
// cache costs a few hundred bytes per pod instead of the full object
// (managed fields, spec, status conditions, last-applied annotations...).
// It is idempotent, as informer transforms must be.
func stripPod(in *corev1.Pod, keepAnnotation func(string) bool) *corev1.Pod {
	out := &corev1.Pod{
		TypeMeta: in.TypeMeta,
		ObjectMeta: metav1.ObjectMeta{
			Name:            in.Name,
			Namespace:       in.Namespace,
			UID:             in.UID,
			ResourceVersion: in.ResourceVersion,
			Labels:          in.Labels,
		},
	}
	for k, v := range in.Annotations {
		if strings.HasPrefix(k, ResourceAnnotationPrefix) || (keepAnnotation != nil && keepAnnotation(k)) {
			if out.Annotations == nil {
				out.Annotations = map[string]string{}
			}
			out.Annotations[k] = v
		}
	}
	if c := controllerOf(in.OwnerReferences); c != nil {
		out.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: c.APIVersion, Kind: c.Kind, Name: c.Name, UID: c.UID, Controller: c.Controller,
		}}
	}
	out.Spec.NodeName = in.Spec.NodeName
	out.Spec.HostNetwork = in.Spec.HostNetwork
	out.Status.ContainerStatuses = stripStatuses(in.Status.ContainerStatuses)
	out.Status.InitContainerStatuses = stripStatuses(in.Status.InitContainerStatuses)
	out.Status.EphemeralContainerStatuses = stripStatuses(in.Status.EphemeralContainerStatuses)
	return out
}

func stripStatuses(in []corev1.ContainerStatus) []corev1.ContainerStatus {
	if len(in) == 0 {
		return nil
	}
	out := make([]corev1.ContainerStatus, 0, len(in))
	for _, s := range in {
		out = append(out, corev1.ContainerStatus{Name: s.Name, ContainerID: s.ContainerID})
	}
	return out
}

// containerIDs returns the runtime IDs (scheme removed) of the pod's
// containers, init and ephemeral ones included.
func containerIDs(p *corev1.Pod) []string {
	var ids []string
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for _, s := range list {
			if id := TrimContainerID(s.ContainerID); id != "" {
				ids = append(ids, id)
			}
		}
	}
	return ids
}

// containerName returns the name of the container with runtime ID id.
func containerName(p *corev1.Pod, id string) string {
	for _, list := range [][]corev1.ContainerStatus{p.Status.ContainerStatuses, p.Status.InitContainerStatuses, p.Status.EphemeralContainerStatuses} {
		for _, s := range list {
			if TrimContainerID(s.ContainerID) == id {
				return s.Name
			}
		}
	}
	return ""
}
