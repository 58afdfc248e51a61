package distribution

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	k8sjson "sigs.k8s.io/json"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/ebpfred/ebpfred/internal/portrange"
)

const (
	daemonSetFile           = "kubernetes/daemonset.yaml"
	daemonSetPrivilegedFile = "kubernetes/daemonset-privileged.yaml"
	sidecarFile             = "kubernetes/sidecar.yaml"
	collectorContainer      = "otelcol-ebpfred"
)

// wantCaps is the whole capability list of the unprivileged manifests; the
// README's privilege table explains each.
var wantCaps = []corev1.Capability{"BPF", "PERFMON", "SYS_PTRACE", "DAC_READ_SEARCH", "CHECKPOINT_RESTORE"}

// objects is a manifest file decoded into the k8s.io/api types.
type objects struct {
	all              []any
	namespaces       []*corev1.Namespace
	serviceAccounts  []*corev1.ServiceAccount
	configMaps       []*corev1.ConfigMap
	resourceQuotas   []*corev1.ResourceQuota
	clusterRoles     []*rbacv1.ClusterRole
	clusterRoleBinds []*rbacv1.ClusterRoleBinding
	daemonSets       []*appsv1.DaemonSet
	deployments      []*appsv1.Deployment
}

// yamlDocs splits a multi-document YAML file into its documents.
func yamlDocs(raw []byte) ([][]byte, error) {
	var docs [][]byte
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	for {
		var n yaml.Node
		if err := dec.Decode(&n); errors.Is(err, io.EOF) {
			return docs, nil
		} else if err != nil {
			return nil, err
		}
		// A key given twice is a mistake the conversion to JSON would
		// hide (the last one wins); yaml.v3 reports it when decoding.
		var check any
		if err := n.Decode(&check); err != nil {
			return nil, err
		}
		b, err := yaml.Marshal(&n)
		if err != nil {
			return nil, err
		}
		docs = append(docs, b)
	}
}

// unmarshalStrict decodes YAML into a k8s.io/api type as the API server
// decodes JSON: field names are case-sensitive, and an unknown or duplicate
// field is an error. (sigs.k8s.io/yaml's UnmarshalStrict goes through
// encoding/json, which accepts readOnlyRootFileSystem for
// readOnlyRootFilesystem: the API server would drop that field.)
func unmarshalStrict(doc []byte, into any) error {
	j, err := sigsyaml.YAMLToJSON(doc)
	if err != nil {
		return err
	}
	strict, err := k8sjson.UnmarshalStrict(j, into)
	if err != nil {
		return err
	}
	return errors.Join(strict...)
}

// decodeManifest decodes every document of a manifest strictly: a field the
// API types do not have (a typo, a field of another API version, a wrong
// indentation) fails, as `kubectl apply --validate=strict` would.
func decodeManifest(t *testing.T, path string) *objects {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	docs, err := yamlDocs(raw)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	o := &objects{}
	for i, doc := range docs {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := sigsyaml.Unmarshal(doc, &meta); err != nil {
			t.Fatalf("%s: document %d: %v", path, i+1, err)
		}
		var obj any
		switch meta.APIVersion + " " + meta.Kind {
		case "v1 Namespace":
			v := &corev1.Namespace{}
			o.namespaces, obj = append(o.namespaces, v), v
		case "v1 ServiceAccount":
			v := &corev1.ServiceAccount{}
			o.serviceAccounts, obj = append(o.serviceAccounts, v), v
		case "v1 ConfigMap":
			v := &corev1.ConfigMap{}
			o.configMaps, obj = append(o.configMaps, v), v
		case "v1 ResourceQuota":
			v := &corev1.ResourceQuota{}
			o.resourceQuotas, obj = append(o.resourceQuotas, v), v
		case "rbac.authorization.k8s.io/v1 ClusterRole":
			v := &rbacv1.ClusterRole{}
			o.clusterRoles, obj = append(o.clusterRoles, v), v
		case "rbac.authorization.k8s.io/v1 ClusterRoleBinding":
			v := &rbacv1.ClusterRoleBinding{}
			o.clusterRoleBinds, obj = append(o.clusterRoleBinds, v), v
		case "apps/v1 DaemonSet":
			v := &appsv1.DaemonSet{}
			o.daemonSets, obj = append(o.daemonSets, v), v
		case "apps/v1 Deployment":
			v := &appsv1.Deployment{}
			o.deployments, obj = append(o.deployments, v), v
		default:
			t.Fatalf("%s: document %d: %s %q: not a kind this test knows; add it to decodeManifest", path, i+1, meta.APIVersion, meta.Kind)
		}
		if err := unmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s: document %d (%s): %v", path, i+1, meta.Kind, err)
		}
		o.all = append(o.all, obj)
	}
	return o
}

func container(t *testing.T, spec *corev1.PodSpec, name string) *corev1.Container {
	t.Helper()
	for i := range spec.Containers {
		if spec.Containers[i].Name == name {
			return &spec.Containers[i]
		}
	}
	t.Fatalf("no container %q in the pod", name)
	return nil
}

func envVar(c *corev1.Container, name string) *corev1.EnvVar {
	for i := range c.Env {
		if c.Env[i].Name == name {
			return &c.Env[i]
		}
	}
	return nil
}

// distName returns dist.name and dist.version of builder-config.yaml.
func distName(t *testing.T) (name, version string) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Dist struct {
			Name       string `yaml:"name"`
			Version    string `yaml:"version"`
			OutputPath string `yaml:"output_path"`
		} `yaml:"dist"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	if cfg.Dist.Name == "" || cfg.Dist.Version == "" {
		t.Fatalf("builder-config.yaml: dist.name %q, dist.version %q: both expected", cfg.Dist.Name, cfg.Dist.Version)
	}
	return cfg.Dist.Name, cfg.Dist.Version
}

// checkCollectorContainer checks what every unprivileged collector
// container must have: the image and command of our build, the exact
// capabilities, root without privilege, GOMEMLIMIT from the memory limit.
func checkCollectorContainer(t *testing.T, c *corev1.Container) {
	t.Helper()
	name, version := distName(t)
	if want := []string{"/" + name}; !slices.Equal(c.Command, want) {
		t.Errorf("command = %q, want %q (the Dockerfile's ENTRYPOINT)", c.Command, want)
	}
	repo, tag, _ := strings.Cut(c.Image, ":")
	if path.Base(repo) != name || tag != version {
		t.Errorf("image = %q, want …/%s:%s (builder-config.yaml dist.name and dist.version)", c.Image, name, version)
	}

	sc := c.SecurityContext
	if sc == nil {
		t.Fatal("no securityContext")
	}
	if sc.Privileged != nil && *sc.Privileged {
		t.Error("privileged: true; the capabilities below are meant to be enough")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("runAsUser = %v, want 0: capabilities granted to a container apply to root", sc.RunAsUser)
	}
	if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation should be false")
	}
	if sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem should be true")
	}
	if sc.Capabilities == nil {
		t.Fatal("no capabilities")
	}
	if !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("capabilities.drop = %v, want [ALL]", sc.Capabilities.Drop)
	}
	if got := slices.Sorted(slices.Values(sc.Capabilities.Add)); !slices.Equal(got, slices.Sorted(slices.Values(wantCaps))) {
		t.Errorf("capabilities.add = %v, want exactly %v", sc.Capabilities.Add, wantCaps)
	}
	if sc.SeccompProfile == nil || sc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("seccompProfile = %+v, want RuntimeDefault (it lets bpf(2) through with CAP_BPF)", sc.SeccompProfile)
	}

	mem, ok := c.Resources.Limits[corev1.ResourceMemory]
	if !ok || mem.IsZero() {
		t.Error("no memory limit: GOMEMLIMIT and memory_limiter are derived from it")
	}
	if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
		t.Error("no memory request")
	}
	if e := envVar(c, "GOMEMLIMIT"); e == nil || e.ValueFrom == nil || e.ValueFrom.ResourceFieldRef == nil ||
		e.ValueFrom.ResourceFieldRef.Resource != "limits.memory" {
		t.Errorf("GOMEMLIMIT = %+v, want valueFrom.resourceFieldRef limits.memory", e)
	}
	if e := envVar(c, "K8S_NODE_NAME"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "spec.nodeName" {
		t.Errorf("K8S_NODE_NAME = %+v, want valueFrom.fieldRef spec.nodeName", e)
	}
}

// checkConfigMount checks that the --config the container reads is a key of
// a ConfigMap of the same file, mounted where it is read, and returns it.
func checkConfigMount(t *testing.T, o *objects, spec *corev1.PodSpec, c *corev1.Container) string {
	t.Helper()
	var cfgPath string
	for _, a := range c.Args {
		if p, ok := strings.CutPrefix(a, "--config="); ok {
			cfgPath = p
		}
	}
	if cfgPath == "" {
		t.Fatalf("args %q: no --config=PATH", c.Args)
	}
	for _, m := range c.VolumeMounts {
		key, ok := strings.CutPrefix(cfgPath, strings.TrimSuffix(m.MountPath, "/")+"/")
		if !ok {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name != m.Name || v.ConfigMap == nil {
				continue
			}
			for _, cm := range o.configMaps {
				if cm.Name == v.ConfigMap.Name {
					if cfg, ok := cm.Data[key]; ok {
						return cfg
					}
					t.Fatalf("--config=%s: ConfigMap %s has no key %q", cfgPath, cm.Name, key)
				}
			}
			t.Fatalf("--config=%s: ConfigMap %s is not in the file", cfgPath, v.ConfigMap.Name)
		}
	}
	t.Fatalf("--config=%s is not inside a ConfigMap volume mount", cfgPath)
	return ""
}

func TestDaemonSet(t *testing.T) {
	o := decodeManifest(t, daemonSetFile)
	if len(o.daemonSets) != 1 {
		t.Fatalf("%d DaemonSets, want 1", len(o.daemonSets))
	}
	ds := o.daemonSets[0]
	spec := &ds.Spec.Template.Spec
	if !spec.HostPID {
		t.Error("hostPID is not set: the receiver matches /proc with the host PIDs the kernel reports")
	}
	if spec.HostNetwork {
		t.Error("hostNetwork set: discovery reads each process's own network namespace, the pod needs none of the host's")
	}
	if spec.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName = %q, want system-node-critical", spec.PriorityClassName)
	}
	tolerateAll := slices.ContainsFunc(spec.Tolerations, func(tl corev1.Toleration) bool {
		return tl.Operator == corev1.TolerationOpExists && tl.Key == "" && tl.Effect == ""
	})
	if !tolerateAll {
		t.Errorf("tolerations %+v: want one {operator: Exists} that tolerates every taint", spec.Tolerations)
	}
	if !reflect.DeepEqual(ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels) {
		t.Errorf("selector %v does not match the template's labels %v", ds.Spec.Selector.MatchLabels, ds.Spec.Template.Labels)
	}
	for _, c := range append(spec.InitContainers, spec.Containers...) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			t.Errorf("container %s is privileged; that is daemonset-privileged.yaml's business", c.Name)
		}
	}

	c := container(t, spec, collectorContainer)
	checkCollectorContainer(t, c)
	if sc := c.SecurityContext; sc.AppArmorProfile == nil || sc.AppArmorProfile.Type != corev1.AppArmorProfileTypeUnconfined {
		t.Errorf("appArmorProfile = %+v, want Unconfined: the runtime default hides other profiles' /proc/<pid>", sc.AppArmorProfile)
	}

	// The node's cgroup hierarchy, read-only; no /proc mount (hostPID shows
	// the host's processes in the container's own /proc).
	mounted := false
	for _, m := range c.VolumeMounts {
		if m.MountPath != "/sys/fs/cgroup" {
			continue
		}
		for _, v := range spec.Volumes {
			if v.Name == m.Name && v.HostPath != nil && v.HostPath.Path == "/sys/fs/cgroup" {
				mounted = true
				if !m.ReadOnly {
					t.Error("/sys/fs/cgroup is mounted read-write")
				}
			}
		}
	}
	if !mounted {
		t.Error("no read-only hostPath mount of /sys/fs/cgroup at /sys/fs/cgroup")
	}
	for _, v := range spec.Volumes {
		if v.HostPath != nil && strings.HasPrefix(v.HostPath.Path, "/proc") {
			t.Errorf("volume %s mounts the host's %s: with hostPID the container's /proc already shows every process", v.Name, v.HostPath.Path)
		}
	}

	// Identity and RBAC: the pod's service account is bound to a read-only
	// ClusterRole that covers what Kubernetes metadata needs.
	if len(o.serviceAccounts) != 1 || o.serviceAccounts[0].Name != spec.ServiceAccountName || o.serviceAccounts[0].Namespace != ds.Namespace {
		t.Fatalf("serviceAccountName %q: want the file's one ServiceAccount, in the DaemonSet's namespace", spec.ServiceAccountName)
	}
	if len(o.clusterRoles) != 1 || len(o.clusterRoleBinds) != 1 {
		t.Fatalf("%d ClusterRoles, %d ClusterRoleBindings: want one each", len(o.clusterRoles), len(o.clusterRoleBinds))
	}
	crb := o.clusterRoleBinds[0]
	if crb.RoleRef.Kind != "ClusterRole" || crb.RoleRef.Name != o.clusterRoles[0].Name {
		t.Errorf("ClusterRoleBinding refers to %s %s, want ClusterRole %s", crb.RoleRef.Kind, crb.RoleRef.Name, o.clusterRoles[0].Name)
	}
	if !slices.ContainsFunc(crb.Subjects, func(s rbacv1.Subject) bool {
		return s.Kind == "ServiceAccount" && s.Name == spec.ServiceAccountName && s.Namespace == ds.Namespace
	}) {
		t.Errorf("ClusterRoleBinding subjects %+v do not include ServiceAccount %s/%s", crb.Subjects, ds.Namespace, spec.ServiceAccountName)
	}
	granted := map[string]bool{}
	for _, r := range o.clusterRoles[0].Rules {
		for _, v := range r.Verbs {
			if v != "get" && v != "list" && v != "watch" {
				t.Errorf("ClusterRole grants %q on %v: read-only (get, list, watch) is enough", v, r.Resources)
			}
		}
		for _, g := range r.APIGroups {
			for _, res := range r.Resources {
				if slices.Contains(r.Verbs, "get") && slices.Contains(r.Verbs, "list") && slices.Contains(r.Verbs, "watch") {
					granted[g+"/"+res] = true
				}
			}
		}
	}
	for _, want := range []string{"/pods", "/nodes", "/namespaces", "apps/replicasets"} {
		if !granted[want] {
			t.Errorf("ClusterRole does not grant get, list, watch on %s", want)
		}
	}

	// Every namespaced object lives in the namespace the file creates.
	if len(o.namespaces) != 1 {
		t.Fatalf("%d Namespaces, want 1", len(o.namespaces))
	}
	ns := o.namespaces[0].Name
	for _, obj := range []interface{ GetNamespace() string }{ds, o.serviceAccounts[0], o.configMaps[0]} {
		if obj.GetNamespace() != ns {
			t.Errorf("%T in namespace %q, want %q", obj, obj.GetNamespace(), ns)
		}
	}

	cfg := checkConfigMount(t, o, spec, c)
	checkEnvCovered(t, cfg, c)

	// The kubelet probes health_check on the pod's IP; pprof and zpages
	// are there to be turned on, not on.
	h := checkExtensions(t, daemonSetFile, cfg, false)
	if h.host != "${env:MY_POD_IP}" {
		t.Errorf("health_check listens on %q, want ${env:MY_POD_IP}: the kubelet probes the pod's IP", h.host)
	}
	if e := envVar(c, "MY_POD_IP"); e == nil || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil ||
		e.ValueFrom.FieldRef.FieldPath != "status.podIP" {
		t.Errorf("MY_POD_IP = %+v, want valueFrom.fieldRef status.podIP", e)
	}
	checkProbe(t, "startupProbe", c, c.StartupProbe, h)
	checkProbe(t, "livenessProbe", c, c.LivenessProbe, h)
	checkProbe(t, "readinessProbe", c, c.ReadinessProbe, h)
}

// TestDaemonSetPrivileged checks that the fallback differs from the default
// DaemonSet in the container's securityContext only.
func TestDaemonSetPrivileged(t *testing.T) {
	def := decodeManifest(t, daemonSetFile)
	priv := decodeManifest(t, daemonSetPrivilegedFile)
	if len(priv.daemonSets) != 1 {
		t.Fatalf("%d DaemonSets, want 1", len(priv.daemonSets))
	}
	pc := container(t, &priv.daemonSets[0].Spec.Template.Spec, collectorContainer)
	sc := pc.SecurityContext
	if sc == nil || sc.Privileged == nil || !*sc.Privileged {
		t.Fatal("the privileged variant's container is not privileged")
	}
	if sc.RunAsUser == nil || *sc.RunAsUser != 0 {
		t.Errorf("runAsUser = %v, want 0", sc.RunAsUser)
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation: false with privileged: true is refused by the API server")
	}
	pc.SecurityContext = nil
	container(t, &def.daemonSets[0].Spec.Template.Spec, collectorContainer).SecurityContext = nil
	if len(def.all) != len(priv.all) {
		t.Fatalf("%s has %d objects, %s %d", daemonSetFile, len(def.all), daemonSetPrivilegedFile, len(priv.all))
	}
	for i := range def.all {
		if !reflect.DeepEqual(def.all[i], priv.all[i]) {
			a, _ := sigsyaml.Marshal(def.all[i])
			b, _ := sigsyaml.Marshal(priv.all[i])
			t.Errorf("object %d differs beyond the container's securityContext:\n%s\n---\n%s", i+1, a, b)
		}
	}
}

func TestSidecar(t *testing.T) {
	o := decodeManifest(t, sidecarFile)
	if len(o.deployments) != 1 {
		t.Fatalf("%d Deployments, want 1", len(o.deployments))
	}
	spec := &o.deployments[0].Spec.Template.Spec
	if spec.ShareProcessNamespace == nil || !*spec.ShareProcessNamespace {
		t.Error("shareProcessNamespace is not set: the collector would not see the application's processes")
	}
	if spec.HostPID {
		t.Error("hostPID set in the sidecar example (and the API server refuses it together with shareProcessNamespace)")
	}
	if len(spec.Containers) != 2 {
		t.Errorf("%d containers, want the application and the collector", len(spec.Containers))
	}
	c := container(t, spec, collectorContainer)
	checkCollectorContainer(t, c)
	cfg := checkConfigMount(t, o, spec, c)
	checkEnvCovered(t, cfg, c)

	// The collector reports pids as its own PID namespace numbers them and
	// refuses to start when /proc is another namespace's: the pod's /proc
	// must stay the one the runtime mounts.
	for _, v := range spec.Volumes {
		if v.HostPath != nil {
			t.Errorf("volume %s mounts the host's %s: the sidecar needs no host path", v.Name, v.HostPath.Path)
		}
	}
	for _, m := range c.VolumeMounts {
		if m.MountPath == "/proc" || strings.HasPrefix(m.MountPath, "/proc/") {
			t.Errorf("volume %s is mounted on %s: the collector needs the pod's own /proc there", m.Name, m.MountPath)
		}
	}

	var conf struct {
		Receivers map[string]struct {
			ExecutableName string `yaml:"executable_name"`
			OpenPort       string `yaml:"open_port"`
			Kubernetes     struct {
				Enable string `yaml:"enable"`
			} `yaml:"kubernetes"`
		} `yaml:"receivers"`
	}
	if err := yaml.Unmarshal([]byte(cfg), &conf); err != nil {
		t.Fatal(err)
	}
	r, ok := conf.Receivers["ebpfred"]
	if !ok || r.ExecutableName == "" {
		t.Fatal("the sidecar's ebpfred receiver has no executable_name: it would instrument more than the application")
	}
	if _, err := regexp.Compile(r.ExecutableName); err != nil {
		t.Errorf("executable_name %q: %v", r.ExecutableName, err)
	}
	// open_port selects the application's port (both criteria must match).
	ports, err := portrange.Parse(r.OpenPort)
	if err != nil {
		t.Fatalf("open_port: %v", err)
	}
	for _, app := range spec.Containers {
		if app.Name == collectorContainer {
			continue
		}
		for _, p := range app.Ports {
			if !ports.Contains(uint16(p.ContainerPort)) {
				t.Errorf("open_port %q leaves out container %s's port %d", r.OpenPort, app.Name, p.ContainerPort)
			}
		}
	}
	// Without a service account token the metadata comes from the
	// downward API; autodetect would warn at every start.
	if spec.AutomountServiceAccountToken != nil && !*spec.AutomountServiceAccountToken && r.Kubernetes.Enable != "false" {
		t.Errorf("kubernetes.enable = %q with no service account token mounted: want false", r.Kubernetes.Enable)
	}
}

// TestManifestConfigsFound makes sure TestValidateConfigs validates the
// configurations embedded in the manifests.
func TestManifestConfigsFound(t *testing.T) {
	for _, f := range []string{daemonSetFile, daemonSetPrivilegedFile, sidecarFile} {
		configs, err := collectorConfigs(f)
		if err != nil {
			t.Fatal(err)
		}
		if len(configs) != 1 {
			t.Errorf("%s: %d collector configurations found, want 1", f, len(configs))
		}
	}
}

var envRef = regexp.MustCompile(`\$\{env:([A-Za-z_][A-Za-z0-9_]*)\}|node_from_env_var:\s*([A-Za-z_][A-Za-z0-9_]*)`)

// configEnv returns the environment variables a collector configuration
// needs: those it reads with no default.
func configEnv(cfg string) []string {
	var names []string
	for _, m := range envRef.FindAllStringSubmatch(cfg, -1) {
		names = append(names, m[1]+m[2])
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// checkEnvCovered checks that the container sets every variable its
// configuration needs, and that podEnv stands in for it in `validate`.
func checkEnvCovered(t *testing.T, cfg string, c *corev1.Container) {
	t.Helper()
	for _, name := range configEnv(cfg) {
		if envVar(c, name) == nil {
			t.Errorf("the configuration reads ${env:%s}, which the container does not set", name)
		}
		if _, ok := podEnv[name]; !ok {
			t.Errorf("${env:%s}: add it to podEnv so that `validate` sees it set", name)
		}
	}
}

func TestConfigEnv(t *testing.T) {
	got := configEnv("a: ${env:A}\nb: ${env:B:-x}\nc: ${env:A}\n  node_from_env_var: N\n")
	if want := []string{"A", "N"}; !slices.Equal(got, want) {
		t.Errorf("configEnv = %v, want %v", got, want)
	}
}
