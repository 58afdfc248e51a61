package distribution

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"go.yaml.in/yaml/v3"
	corev1 "k8s.io/api/core/v1"
	sigsyaml "sigs.k8s.io/yaml"
)

const helmValuesFile = "helm/values.yaml"

// strictInto decodes part of a YAML document into a k8s.io/api type,
// refusing unknown fields.
func strictInto(t *testing.T, what string, v, into any) {
	t.Helper()
	b, err := yaml.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := unmarshalStrict(b, into); err != nil {
		t.Errorf("%s: %v", what, err)
	}
}

// helmValues is the part of the chart's values that we set and check.
type helmValues struct {
	Mode  string `yaml:"mode"`
	Image struct {
		Repository string `yaml:"repository"`
		Tag        string `yaml:"tag"`
	} `yaml:"image"`
	Command struct {
		Name string `yaml:"name"`
	} `yaml:"command"`
	Presets struct {
		KubernetesAttributes struct {
			Enabled bool `yaml:"enabled"`
		} `yaml:"kubernetesAttributes"`
	} `yaml:"presets"`
	HostPID           bool   `yaml:"hostPID"`
	PriorityClassName string `yaml:"priorityClassName"`
	UseGOMEMLIMIT     bool   `yaml:"useGOMEMLIMIT"`
	LivenessProbe     probe  `yaml:"livenessProbe"`
	ReadinessProbe    probe  `yaml:"readinessProbe"`
}

type probe struct {
	HTTPGet struct {
		Port int    `yaml:"port"`
		Path string `yaml:"path"`
	} `yaml:"httpGet"`
}

func TestHelmValues(t *testing.T) {
	raw, err := os.ReadFile(helmValuesFile)
	if err != nil {
		t.Fatal(err)
	}
	var v helmValues
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	var tree map[string]any
	if err := yaml.Unmarshal(raw, &tree); err != nil {
		t.Fatal(err)
	}

	if v.Mode != "daemonset" {
		t.Errorf("mode = %q, want daemonset", v.Mode)
	}
	if !v.HostPID {
		t.Error("hostPID is not set")
	}
	if !v.Presets.KubernetesAttributes.Enabled {
		t.Error("presets.kubernetesAttributes is not enabled")
	}
	if v.PriorityClassName != "system-node-critical" {
		t.Errorf("priorityClassName = %q", v.PriorityClassName)
	}
	if !v.UseGOMEMLIMIT {
		t.Error("useGOMEMLIMIT is off")
	}

	// Same image, same binary, same privileges as the DaemonSet manifest.
	name, _ := distName(t)
	if v.Command.Name != name {
		t.Errorf("command.name = %q, want %q: the chart runs /<command.name>", v.Command.Name, name)
	}
	ds := decodeManifest(t, daemonSetFile).daemonSets[0]
	dc := container(t, &ds.Spec.Template.Spec, collectorContainer)
	if got := v.Image.Repository + ":" + v.Image.Tag; got != dc.Image {
		t.Errorf("image %s, the DaemonSet's %s", got, dc.Image)
	}
	var sc corev1.SecurityContext
	strictInto(t, "securityContext", tree["securityContext"], &sc)
	if !reflect.DeepEqual(&sc, dc.SecurityContext) {
		a, _ := sigsyaml.Marshal(sc)
		b, _ := sigsyaml.Marshal(dc.SecurityContext)
		t.Errorf("securityContext differs from the DaemonSet's:\n%s\n---\n%s", a, b)
	}
	var tolerations []corev1.Toleration
	strictInto(t, "tolerations", tree["tolerations"], &tolerations)
	if !reflect.DeepEqual(tolerations, ds.Spec.Template.Spec.Tolerations) {
		t.Errorf("tolerations %+v, the DaemonSet's %+v", tolerations, ds.Spec.Template.Spec.Tolerations)
	}
	var resources corev1.ResourceRequirements
	strictInto(t, "resources", tree["resources"], &resources)
	if _, ok := resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("resources.limits.memory is not set: the chart derives GOMEMLIMIT from it")
	}
	var env []corev1.EnvVar
	strictInto(t, "extraEnvs", tree["extraEnvs"], &env)
	var volumes []corev1.Volume
	strictInto(t, "extraVolumes", tree["extraVolumes"], &volumes)
	var mounts []corev1.VolumeMount
	strictInto(t, "extraVolumeMounts", tree["extraVolumeMounts"], &mounts)
	cgroup := slices.ContainsFunc(mounts, func(m corev1.VolumeMount) bool {
		return m.MountPath == "/sys/fs/cgroup" && m.ReadOnly && slices.ContainsFunc(volumes, func(vol corev1.Volume) bool {
			return vol.Name == m.Name && vol.HostPath != nil && vol.HostPath.Path == "/sys/fs/cgroup"
		})
	})
	if !cgroup {
		t.Error("no read-only hostPath mount of /sys/fs/cgroup")
	}

	// The configuration: the collector accepts it, it needs nothing the
	// chart does not set, and the probes the chart always renders ask a
	// port the collector serves.
	cfg, ok := tree["alternateConfig"].(map[string]any)
	if !ok {
		t.Fatal("no alternateConfig")
	}
	text, err := yaml.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range configEnv(string(text)) {
		chartSets := name == "K8S_NODE_NAME" || name == "MY_POD_IP" // the chart's own env
		if !chartSets && !slices.ContainsFunc(env, func(e corev1.EnvVar) bool { return e.Name == name }) {
			t.Errorf("alternateConfig reads ${env:%s}, which neither the chart nor extraEnvs sets", name)
		}
		if _, ok := podEnv[name]; !ok {
			t.Errorf("${env:%s}: add it to podEnv so that `validate` sees it set", name)
		}
	}
	// The probes the chart always renders ask health_check, which the
	// configuration starts on the pod's IP (the chart sets MY_POD_IP);
	// pprof and zpages are defined but off.
	h := checkExtensions(t, helmValuesFile+" alternateConfig", string(text), false)
	if h.host != "${env:MY_POD_IP}" {
		t.Errorf("health_check listens on %q, want ${env:MY_POD_IP}: the kubelet probes the pod's IP", h.host)
	}
	for what, p := range map[string]probe{"livenessProbe": v.LivenessProbe, "readinessProbe": v.ReadinessProbe} {
		if p.HTTPGet.Port != h.port || p.HTTPGet.Path != h.path {
			t.Errorf("%s asks :%d%s; health_check answers on :%d%s", what, p.HTTPGet.Port, p.HTTPGet.Path, h.port, h.path)
		}
	}

	bin := collector(t)
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, text, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := run(t, bin, "validate", "--config", file); err != nil {
		t.Errorf("otelcol-ebpfred validate (alternateConfig of %s): %v\n%s", helmValuesFile, err, out)
	}
}
