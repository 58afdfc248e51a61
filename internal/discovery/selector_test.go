package discovery

import (
	"reflect"
	"testing"

	"github.com/ebpfred/ebpfred/internal/kube"
)

// fakePods is a PodLookup over fixed pods.
type fakePods struct {
	byContainer map[string]*kube.Pod
	byUID       map[string]*kube.Pod
}

func (f *fakePods) ByContainerID(id string) *kube.Pod {
	if p := f.byContainer[id]; p != nil {
		v := *p
		return &v
	}
	return nil
}

func (f *fakePods) ByUID(uid string) *kube.Pod {
	if p := f.byUID[uid]; p != nil {
		v := *p
		v.ContainerName = ""
		return &v
	}
	return nil
}

func mustCompile(t *testing.T, c ServicesConfig) (include, exclude []Selector) {
	t.Helper()
	include, exclude, err := c.Compile()
	if err != nil {
		t.Fatal(err)
	}
	return include, exclude
}

func TestSelection(t *testing.T) {
	checkout := &kube.Pod{
		UID: "u-1", Name: "checkout-7d4b9c-x2x9z", Namespace: "shop", NodeName: "node-1",
		Labels:      map[string]string{"app": "checkout", "pod-template-hash": "7d4b9c"},
		Annotations: map[string]string{"team": "payments"},
		ReplicaSet:  "checkout-7d4b9c", Deployment: "checkout", ContainerName: "app",
	}
	dns := &kube.Pod{UID: "u-2", Name: "coredns-1", Namespace: "kube-system", ReplicaSet: "coredns-5d", Deployment: "coredns", ContainerName: "coredns"}
	db := &kube.Pod{UID: "u-3", Name: "db-0", Namespace: "shop", StatefulSet: "db", ContainerName: "postgres"}

	type proc struct {
		exe string
		cg  cgroupIDs
		pod *kube.Pod
	}
	host := proc{exe: "/usr/bin/backend"}
	worker := proc{exe: "/opt/worker", cg: cgroupIDs{ContainerID: "c0"}}
	checkoutP := proc{exe: "/app/server", cg: cgroupIDs{ContainerID: "c1", PodUID: "u-1"}, pod: checkout}
	dnsP := proc{exe: "/coredns", cg: cgroupIDs{ContainerID: "c2", PodUID: "u-2"}, pod: dns}
	dbP := proc{exe: "/usr/lib/postgresql/bin/postgres", cg: cgroupIDs{ContainerID: "c3", PodUID: "u-3"}, pod: db}
	collector := proc{exe: "/otelcol-contrib", cg: cgroupIDs{ContainerID: "c4", PodUID: "u-9"}}
	unknownPod := proc{exe: "/app/server", cg: cgroupIDs{ContainerID: "c5", PodUID: "u-5"}} // not in the cache yet

	tests := []struct {
		name string
		cfg  ServicesConfig
		want map[*proc]string // selected processes → the service.name they get; others must not be selected
	}{
		{"exe regexp", ServicesConfig{Services: []SelectorConfig{{ExePathRegexp: "(worker)|(backend)"}}},
			map[*proc]string{&host: "backend", &worker: "worker"}},
		{"containers only", ServicesConfig{Services: []SelectorConfig{{ContainersOnly: true}}},
			map[*proc]string{&worker: "worker", &checkoutP: "checkout", &dnsP: "coredns", &dbP: "db", &collector: "otelcol-contrib", &unknownPod: "server"}},
		{"k8s namespace and labels", ServicesConfig{Services: []SelectorConfig{{K8sNamespace: "^shop$", K8sPodLabels: map[string]string{"app": "^check"}}}},
			map[*proc]string{&checkoutP: "checkout"}},
		{"a missing label does not match, even .*", ServicesConfig{Services: []SelectorConfig{{K8sPodLabels: map[string]string{"tier": ".*"}}}},
			map[*proc]string{}},
		{"annotation", ServicesConfig{Services: []SelectorConfig{{K8sPodAnnotations: map[string]string{"team": "^payments$"}}}},
			map[*proc]string{&checkoutP: "checkout"}},
		{"owner kinds", ServicesConfig{Services: []SelectorConfig{{K8sStatefulSetName: "^db$"}, {K8sDeploymentName: "^core"}}},
			map[*proc]string{&dbP: "db", &dnsP: "coredns"}},
		{"k8s_owner_name matches any controller", ServicesConfig{Services: []SelectorConfig{{K8sOwnerName: "^(db|checkout-7d4b9c)$"}}},
			map[*proc]string{&dbP: "db", &checkoutP: "checkout"}},
		{"a criterion on an unset owner does not match", ServicesConfig{Services: []SelectorConfig{{K8sDeploymentName: ".*"}}},
			map[*proc]string{&checkoutP: "checkout", &dnsP: "coredns"}},
		{"pod name and container name", ServicesConfig{Services: []SelectorConfig{{K8sPodName: "^checkout-", K8sContainerName: "^app$"}}},
			map[*proc]string{&checkoutP: "checkout"}},
		{"all criteria of an entry must match", ServicesConfig{Services: []SelectorConfig{{K8sNamespace: "^shop$", ExePathRegexp: "postgres"}}},
			map[*proc]string{&dbP: "db"}},
		{"first matching entry names the service", ServicesConfig{Services: []SelectorConfig{
			{Name: "shop-things", Namespace: "team-a", K8sNamespace: "^shop$"},
			{Name: "never", K8sStatefulSetName: "db"},
		}}, map[*proc]string{&checkoutP: "shop-things", &dbP: "shop-things"}},
		{"exclusion wins", ServicesConfig{
			Services:        []SelectorConfig{{ContainersOnly: true}},
			ExcludeServices: []SelectorConfig{{K8sNamespace: "^shop$"}, {ExePathRegexp: "worker"}},
		}, map[*proc]string{&dnsP: "coredns", &collector: "otelcol-contrib", &unknownPod: "server"}},
		{"default exclusions: agents and system namespaces", ServicesConfig{
			Services:               []SelectorConfig{{ContainersOnly: true}},
			DefaultExcludeServices: DefaultExcludeServices(),
		}, map[*proc]string{&worker: "worker", &checkoutP: "checkout", &dbP: "db", &unknownPod: "server"}},
	}
	pods := &fakePods{byContainer: map[string]*kube.Pod{"c1": checkout, "c2": dns, "c3": db}}
	all := []*proc{&host, &worker, &checkoutP, &dnsP, &dbP, &collector, &unknownPod}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc, exc := mustCompile(t, tt.cfg)
			d := New(Config{Services: inc, ExcludeServices: exc, Pods: pods, HostID: "h"})
			for _, p := range all {
				c := &candidate{d: d, exe: p.exe, cgLoaded: true, cg: p.cg}
				sel := d.match(c)
				want, selected := tt.want[p]
				if (sel != nil) != selected {
					t.Errorf("%s: selected = %v, want %v", p.exe, sel != nil, selected)
					continue
				}
				if sel != nil {
					if got := serviceName(sel, envInfo{}, c.pod(), baseName(p.exe)); got != want {
						t.Errorf("%s: service.name %q, want %q", p.exe, got, want)
					}
				}
			}
		})
	}
}

func baseName(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}

func TestKubernetesCriteriaWithoutKubernetes(t *testing.T) {
	inc, _ := mustCompile(t, ServicesConfig{Services: []SelectorConfig{{K8sNamespace: "."}}})
	d := New(Config{Services: inc, Pods: (*kube.Store)(nil)}) // a nil store: Kubernetes off
	if d.pods != nil {
		t.Fatal("a nil *kube.Store must count as no Kubernetes")
	}
	c := &candidate{d: d, exe: "/x", cgLoaded: true, cg: cgroupIDs{ContainerID: "c", PodUID: "u"}}
	if d.match(c) != nil {
		t.Error("k8s criteria matched without Kubernetes metadata")
	}
}

func TestServiceIdentityPrecedence(t *testing.T) {
	annotated := &kube.Pod{Namespace: "shop", Name: "checkout-abc-x", ReplicaSet: "checkout-abc", Deployment: "checkout",
		Annotations: map[string]string{annotationServiceName: "ann-name", annotationServiceNamespace: "ann-ns"}}
	plain := &kube.Pod{Namespace: "shop", Name: "checkout-abc-x", ReplicaSet: "checkout-abc", Deployment: "checkout"}
	tests := []struct {
		name             string
		sel              *Selector
		env              envInfo
		pod              *kube.Pod
		wantName, wantNS string
	}{
		{"selector wins", &Selector{Name: "cfg", Namespace: "cfg-ns"}, envInfo{"env", "env-ns"}, annotated, "cfg", "cfg-ns"},
		{"then the process's environment", &Selector{}, envInfo{"env", "env-ns"}, annotated, "env", "env-ns"},
		{"then the pod annotation", &Selector{}, envInfo{}, annotated, "ann-name", "ann-ns"},
		{"then the workload and the k8s namespace", &Selector{}, envInfo{}, plain, "checkout", "shop"},
		{"bare ReplicaSet", nil, envInfo{}, &kube.Pod{Namespace: "n", Name: "rs-x", ReplicaSet: "rs"}, "rs", "n"},
		{"StatefulSet", nil, envInfo{}, &kube.Pod{Namespace: "n", Name: "db-0", StatefulSet: "db"}, "db", "n"},
		{"DaemonSet", nil, envInfo{}, &kube.Pod{Namespace: "n", Name: "ds-x", DaemonSet: "ds"}, "ds", "n"},
		{"CronJob over its Job", nil, envInfo{}, &kube.Pod{Namespace: "n", Name: "j-1-x", Job: "backup-29000000", CronJob: "backup"}, "backup", "n"},
		{"Job", nil, envInfo{}, &kube.Pod{Namespace: "n", Name: "j-x", Job: "j"}, "j", "n"},
		{"bare pod", nil, envInfo{}, &kube.Pod{Namespace: "n", Name: "debug"}, "debug", "n"},
		{"no pod: the executable, no namespace", nil, envInfo{}, nil, "server", ""},
		{"env namespace without env name", nil, envInfo{serviceNamespace: "env-ns"}, plain, "checkout", "env-ns"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := serviceName(tt.sel, tt.env, tt.pod, "server"); got != tt.wantName {
				t.Errorf("service.name = %q, want %q", got, tt.wantName)
			}
			if got := serviceNamespace(tt.sel, tt.env, tt.pod); got != tt.wantNS {
				t.Errorf("service.namespace = %q, want %q", got, tt.wantNS)
			}
		})
	}
}

func TestPodAttributes(t *testing.T) {
	pod := &kube.Pod{
		UID: "u-1", Name: "checkout-7d4b9c-x2x9z", Namespace: "shop", NodeName: "node-1", ContainerName: "app",
		ReplicaSet: "checkout-7d4b9c", Deployment: "checkout",
		Annotations: map[string]string{
			annotationServiceName:                                         "ignored here",
			kube.ResourceAnnotationPrefix + "service.version":             "1.2.3",
			kube.ResourceAnnotationPrefix + "k8s.pod.name":                "cannot override",
			kube.ResourceAnnotationPrefix + "deployment.environment.name": "prod",
			"unrelated": "x",
		},
	}
	got := map[string]string{}
	podAttributes(pod, func(k, v string) {
		if v != "" {
			got[k] = v
		}
	})
	want := map[string]string{
		"k8s.namespace.name": "shop", "k8s.pod.name": "checkout-7d4b9c-x2x9z", "k8s.pod.uid": "u-1",
		"k8s.container.name": "app", "k8s.node.name": "node-1", "k8s.deployment.name": "checkout",
		"k8s.replicaset.name": "checkout-7d4b9c", "service.version": "1.2.3", "deployment.environment.name": "prod",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("\n got  %v\n want %v", got, want)
	}
}
