package kube

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

const (
	node = "node-1"
	cid1 = "0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9"
	cid2 = "ffeeddccbbaa99887766554433221100ffeeddccbbaa99887766554433221100"
	cid3 = "1111111111111111111111111111111111111111111111111111111111111111"
)

func controller(kind, name string) []metav1.OwnerReference {
	yes := true
	return []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: kind, Name: name, UID: types.UID("uid-" + name), Controller: &yes}}
}

func pod(ns, name, uid, nodeName string, owners []metav1.OwnerReference, labels map[string]string, containers map[string]string) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, UID: types.UID(uid), Labels: labels, OwnerReferences: owners},
		Spec:       corev1.PodSpec{NodeName: nodeName},
	}
	for n, id := range containers {
		p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{Name: n, ContainerID: id})
	}
	return p
}

// eventually retries f until it holds or 10 s pass.
func eventually(t *testing.T, what string, f func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func startStore(t *testing.T, client *fake.Clientset, opts Options) *Store {
	t.Helper()
	s := NewWithClient(client, node, opts)
	s.Start()
	t.Cleanup(s.Stop)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if !s.WaitForSync(ctx) {
		t.Fatal("pods never synced")
	}
	return s
}

func TestStoreFollowsThePodsOfItsNode(t *testing.T) {
	client := fake.NewClientset(
		pod("shop", "checkout-7d4b9c-x2x9z", "u-1", node, controller("ReplicaSet", "checkout-7d4b9c"),
			map[string]string{"app": "checkout", "pod-template-hash": "7d4b9c"},
			map[string]string{"app": "containerd://" + cid1}),
		pod("shop", "elsewhere", "u-2", "node-2", nil, nil, map[string]string{"app": "containerd://" + cid2}),
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "shop", Name: "checkout-7d4b9c", OwnerReferences: controller("Deployment", "checkout")}},
	)
	var mu sync.Mutex
	var selectors []string
	client.PrependReactor("list", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		defer mu.Unlock()
		selectors = append(selectors, a.(k8stesting.ListAction).GetListRestrictions().Fields.String())
		return false, nil, nil
	})
	s := startStore(t, client, Options{})

	mu.Lock()
	if len(selectors) == 0 || selectors[0] != "spec.nodeName="+node {
		t.Errorf("list field selectors %q, want spec.nodeName=%s", selectors, node)
	}
	mu.Unlock()

	p := s.ByContainerID(cid1)
	if p == nil {
		t.Fatal("the pod of this node is not found by container ID")
	}
	if p.Name != "checkout-7d4b9c-x2x9z" || p.Namespace != "shop" || p.UID != "u-1" || p.NodeName != node ||
		p.ContainerName != "app" || p.ReplicaSet != "checkout-7d4b9c" || p.Labels["app"] != "checkout" {
		t.Errorf("pod %+v", p)
	}
	eventually(t, "the Deployment from the ReplicaSet", func() bool { return s.ByContainerID(cid1).Deployment == "checkout" })
	if u := s.ByUID("u-1"); u == nil || u.Name != p.Name || u.ContainerName != "" {
		t.Errorf("ByUID = %+v", u)
	}
	if s.ByContainerID(cid2) != nil || s.ByUID("u-2") != nil {
		t.Error("a pod of another node was found")
	}
	if s.Len() != 1 {
		t.Errorf("Len = %d, want 1", s.Len())
	}

	// A container whose ID appears in the status later (it just started).
	np := pod("shop", "db-0", "u-3", node, controller("StatefulSet", "db"), nil, map[string]string{"postgres": ""})
	ctx := context.Background()
	if _, err := client.CoreV1().Pods("shop").Create(ctx, np, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new pod by UID", func() bool { return s.ByUID("u-3") != nil })
	np.Status.ContainerStatuses[0].ContainerID = "cri-o://" + cid3
	if _, err := client.CoreV1().Pods("shop").UpdateStatus(ctx, np, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new container", func() bool { return s.ByContainerID(cid3) != nil })
	if db := s.ByContainerID(cid3); db.StatefulSet != "db" || db.ContainerName != "postgres" || db.OwnerName() != "db" {
		t.Errorf("statefulset pod %+v", db)
	}

	// Deletion: the pod and its cached owner go.
	if err := client.CoreV1().Pods("shop").Delete(ctx, "checkout-7d4b9c-x2x9z", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the deleted pod to go", func() bool { return s.ByContainerID(cid1) == nil && s.ByUID("u-1") == nil })
	eventually(t, "the owner cache to empty", func() bool { return s.owners.len() == 0 })
}

func TestOwnerResolution(t *testing.T) {
	hash := map[string]string{"pod-template-hash": "5f6d"}
	client := fake.NewClientset(
		// A ReplicaSet whose Deployment's name is not its name minus the hash.
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "web-5f6d", OwnerReferences: controller("Deployment", "frontend")}},
		// A bare ReplicaSet.
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "bare"}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "backup-29000000", OwnerReferences: controller("CronJob", "backup")}},
		&batchv1.Job{ObjectMeta: metav1.ObjectMeta{Namespace: "a", Name: "once"}},
		pod("a", "web-5f6d-1", "u-1", node, controller("ReplicaSet", "web-5f6d"), hash, map[string]string{"c": "containerd://" + cid1}),
		pod("a", "bare-1", "u-2", node, controller("ReplicaSet", "bare"), nil, nil),
		pod("a", "backup-1", "u-3", node, controller("Job", "backup-29000000"), nil, nil),
		pod("a", "once-1", "u-4", node, controller("Job", "once"), nil, nil),
		pod("a", "ds-1", "u-5", node, controller("DaemonSet", "agent"), nil, nil),
		pod("a", "solo", "u-6", node, nil, nil, nil),
	)
	s := startStore(t, client, Options{})
	want := map[string]string{"u-1": "frontend", "u-2": "bare", "u-3": "backup", "u-4": "once", "u-5": "agent", "u-6": "solo"}
	eventually(t, "owners", func() bool {
		for uid, w := range want {
			if p := s.ByUID(uid); p == nil || p.OwnerName() != w {
				return false
			}
		}
		return true
	})
	if p := s.ByUID("u-1"); p.Deployment != "frontend" || p.ReplicaSet != "web-5f6d" {
		t.Errorf("the API's answer must win over the name: %+v", p)
	}
	if p := s.ByUID("u-3"); p.CronJob != "backup" || p.Job != "backup-29000000" {
		t.Errorf("cronjob pod %+v", p)
	}
	if got := s.owners.len(); got != 4 {
		t.Errorf("%d owners cached, want 4 (2 ReplicaSets, 2 Jobs)", got)
	}
}

func TestOwnerGuessedWhenForbidden(t *testing.T) {
	client := fake.NewClientset(
		pod("a", "web-5f6d-1", "u-1", node, controller("ReplicaSet", "web-5f6d"), map[string]string{"pod-template-hash": "5f6d"}, nil),
		pod("a", "bare-1", "u-2", node, controller("ReplicaSet", "bare"), nil, nil),
	)
	var mu sync.Mutex
	gets := 0
	client.PrependReactor("get", "replicasets", func(a k8stesting.Action) (bool, runtime.Object, error) {
		mu.Lock()
		gets++
		mu.Unlock()
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "replicasets"}, a.(k8stesting.GetAction).GetName(), nil)
	})
	s := startStore(t, client, Options{})
	eventually(t, "a GET", func() bool { mu.Lock(); defer mu.Unlock(); return gets > 0 })
	if p := s.ByUID("u-1"); p.Deployment != "web" {
		t.Errorf("Deployment %q, want web (the ReplicaSet name minus pod-template-hash)", p.Deployment)
	}
	if p := s.ByUID("u-2"); p.Deployment != "" || p.OwnerName() != "bare" {
		t.Errorf("bare ReplicaSet guessed as %+v", p)
	}
	// Forbidden once: not asked again.
	if _, err := client.CoreV1().Pods("a").Create(context.Background(),
		pod("a", "web-5f6d-2", "u-3", node, controller("ReplicaSet", "other-1"), nil, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the new pod", func() bool { return s.ByUID("u-3") != nil })
	mu.Lock()
	defer mu.Unlock()
	if gets != 1 {
		t.Errorf("%d GETs after a Forbidden, want 1", gets)
	}
}

func TestStripPod(t *testing.T) {
	fat := pod("shop", "checkout-1", "u-1", node, nil, map[string]string{"app": "checkout"},
		map[string]string{"app": "containerd://" + cid1})
	yes := true
	fat.OwnerReferences = []metav1.OwnerReference{
		{Kind: "Something", Name: "not-the-controller"},
		{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "checkout-7d4b9c", Controller: &yes},
	}
	fat.Annotations = map[string]string{
		"kubectl.kubernetes.io/last-applied-configuration": strings.Repeat("x", 20000),
		ResourceAnnotationPrefix + "service.name":          "checkout",
		"team":   "payments",
		"unused": "y",
	}
	fat.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubectl", FieldsV1: &metav1.FieldsV1{Raw: []byte(strings.Repeat("{}", 5000))}}}
	fat.Spec.Containers = []corev1.Container{{Name: "app", Image: "registry/app:1", Command: []string{strings.Repeat("c", 1000)},
		Env: []corev1.EnvVar{{Name: "A", Value: strings.Repeat("v", 1000)}}}}
	fat.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Message: strings.Repeat("m", 1000)}}
	fat.Status.ContainerStatuses[0].Image = "registry/app:1"
	fat.Status.ContainerStatuses[0].State.Running = &corev1.ContainerStateRunning{}
	fat.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", ContainerID: "containerd://" + cid2, Image: "i"}}

	thin := stripPod(fat, func(k string) bool { return k == "team" })
	if again := stripPod(thin, func(k string) bool { return k == "team" }); again.Size() != thin.Size() {
		t.Error("stripPod is not idempotent")
	}
	if thin.Name != "checkout-1" || thin.Namespace != "shop" || thin.UID != "u-1" || thin.Spec.NodeName != node ||
		thin.Labels["app"] != "checkout" || len(thin.OwnerReferences) != 1 || thin.OwnerReferences[0].Name != "checkout-7d4b9c" {
		t.Errorf("lost a field ebpfred reads: %+v", thin)
	}
	if len(thin.Annotations) != 2 || thin.Annotations["team"] != "payments" || thin.Annotations[ResourceAnnotationPrefix+"service.name"] != "checkout" {
		t.Errorf("annotations %v, want the resource one and the selected one", thin.Annotations)
	}
	if ids := containerIDs(thin); len(ids) != 2 || ids[0] != cid1 || ids[1] != cid2 {
		t.Errorf("container IDs %v", ids)
	}
	if thin.ManagedFields != nil || thin.Spec.Containers != nil || thin.Status.Conditions != nil ||
		thin.Status.ContainerStatuses[0].Image != "" || thin.Status.ContainerStatuses[0].State.Running != nil {
		t.Errorf("kept what it should drop: %+v", thin)
	}
	if fs, ts := fat.Size(), thin.Size(); ts > 600 {
		t.Errorf("stripped pod is %d bytes (from %d), want at most 600", ts, fs)
	}
	if fat.Annotations["unused"] != "y" || len(fat.Spec.Containers) != 1 {
		t.Error("stripPod modified its input")
	}
}

func TestNilStore(t *testing.T) {
	var s *Store
	s.Start()
	s.Stop()
	if s.ByContainerID(cid1) != nil || s.ByUID("u") != nil || s.HasSynced() || s.Len() != 0 || s.NodeName() != "" ||
		s.WaitForSync(context.Background()) {
		t.Error("a nil Store must find nothing")
	}
	// Stop without Start, and twice.
	st := NewWithClient(fake.NewClientset(), node, Options{})
	st.Stop()
	st.Stop()
}
