package discovery

import (
	"reflect"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/confmap"
	"go.yaml.in/yaml/v3"
)

func TestServicesConfigCheck(t *testing.T) {
	tests := []struct {
		name string
		cfg  ServicesConfig
		want []string // one line per problem, in order
	}{
		{"valid", ServicesConfig{
			Services: []SelectorConfig{
				{Name: "checkout", Namespace: "shop", OpenPorts: "8080,9000-9100"},
				{ExePathRegexp: "(worker)|(backend)"},
				{K8sNamespace: "^shop$", K8sPodLabels: map[string]string{"app": "checkout"}},
				{ContainersOnly: true},
			},
			ExcludeServices:        []SelectorConfig{{K8sDeploymentName: "^debug-"}},
			DefaultExcludeServices: DefaultExcludeServices(),
		}, nil},
		{"empty section is valid (the shorthand may select)", ServicesConfig{}, nil},
		{"port range backwards", ServicesConfig{Services: []SelectorConfig{{OpenPorts: "80"}, {OpenPorts: "90-80"}}},
			[]string{`discovery.services[1].open_ports: "90-80": range end before start; write "80-90"`}},
		{"port out of range", ServicesConfig{Services: []SelectorConfig{{OpenPorts: "70000"}}},
			[]string{`discovery.services[0].open_ports: "70000": port out of range; ports go from 1 to 65535`}},
		{"bad regexps, every key named", ServicesConfig{Services: []SelectorConfig{{
			ExePathRegexp: "(", K8sNamespace: "[a-", K8sPodLabels: map[string]string{"app": "*x"},
		}}}, []string{
			"discovery.services[0].exe_path_regexp: \"(\": not a valid Go regular expression (missing closing )); see https://pkg.go.dev/regexp/syntax",
			"discovery.services[0].k8s_namespace: \"[a-\": not a valid Go regular expression (missing closing ]); see https://pkg.go.dev/regexp/syntax",
			"discovery.services[0].k8s_pod_labels.app: \"*x\": not a valid Go regular expression (missing argument to repetition operator: `*`); see https://pkg.go.dev/regexp/syntax",
		}},
		{"entry without criteria", ServicesConfig{Services: []SelectorConfig{{Name: "x"}}},
			[]string{`discovery.services[0]: no criteria, so the entry selects nothing; set at least one of open_ports, exe_path_regexp, containers_only or a k8s_* key, e.g. open_ports: "8080"`}},
		{"exclusion without criteria, with a name", ServicesConfig{ExcludeServices: []SelectorConfig{{Name: "x"}}}, []string{
			`discovery.exclude_services[0].name: "x": an exclusion reports nothing, so it takes no name; remove it`,
			`discovery.exclude_services[0]: no criteria, so the entry excludes nothing; set at least one of open_ports, exe_path_regexp, containers_only or a k8s_* key, e.g. open_ports: "8080"`,
		}},
		{"empty label key", ServicesConfig{DefaultExcludeServices: []SelectorConfig{{K8sPodAnnotations: map[string]string{" ": "x"}}}},
			[]string{`discovery.default_exclude_services[0].k8s_pod_annotations: an empty key; write the annotations name, e.g. app: "^checkout$"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Check()
			var got []string
			if err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Check:\n got  %q\n want %q", got, tt.want)
			}
		})
	}
}

func TestServicesConfigUnmarshal(t *testing.T) {
	const doc = `
services:
  - name: checkout
    namespace: shop
    open_ports: "8080,9000-9100"
    exe_path_regexp: "(worker)|(backend)"
    k8s_namespace: "^shop$"
    k8s_pod_name: "^checkout-"
    k8s_deployment_name: "^checkout$"
    k8s_pod_labels: {app: "checkout"}
    k8s_pod_annotations: {team: "^payments$"}
  - containers_only: true
exclude_services:
  - exe_path_regexp: "/debug$"
`
	cfg := ServicesConfig{DefaultExcludeServices: DefaultExcludeServices()}
	load(t, doc, &cfg)
	want := ServicesConfig{
		Services: []SelectorConfig{{
			Name: "checkout", Namespace: "shop", OpenPorts: "8080,9000-9100", ExePathRegexp: "(worker)|(backend)",
			K8sNamespace: "^shop$", K8sPodName: "^checkout-", K8sDeploymentName: "^checkout$",
			K8sPodLabels: map[string]string{"app": "checkout"}, K8sPodAnnotations: map[string]string{"team": "^payments$"},
		}, {ContainersOnly: true}},
		ExcludeServices:        []SelectorConfig{{ExePathRegexp: "/debug$"}},
		DefaultExcludeServices: DefaultExcludeServices(), // kept when not set
	}
	if !reflect.DeepEqual(cfg, want) {
		t.Errorf("\n got  %+v\n want %+v", cfg, want)
	}
	if err := cfg.Check(); err != nil {
		t.Error(err)
	}
	if got := cfg.UsesKubernetes(); got != "discovery.services[0].k8s_namespace" {
		t.Errorf("UsesKubernetes = %q", got)
	}
	if got := cfg.PodAnnotationKeys(); !reflect.DeepEqual(got, []string{"team"}) {
		t.Errorf("PodAnnotationKeys = %q", got)
	}
	if !cfg.SelectsByExecutable() {
		t.Error("SelectsByExecutable = false")
	}

	// An explicit empty list removes the defaults.
	load(t, "default_exclude_services: []\n", &cfg)
	if len(cfg.DefaultExcludeServices) != 0 {
		t.Errorf("default_exclude_services: [] left %v", cfg.DefaultExcludeServices)
	}
	if (ServicesConfig{DefaultExcludeServices: DefaultExcludeServices()}).UsesKubernetes() != "" {
		t.Error("the default system-namespace exclusion must not demand Kubernetes")
	}
}

func load(t *testing.T, doc string, into *ServicesConfig) {
	t.Helper()
	var raw map[string]any
	if err := yaml.Unmarshal([]byte(doc), &raw); err != nil {
		t.Fatal(err)
	}
	if err := confmap.NewFromStringMap(raw).Unmarshal(into); err != nil {
		t.Fatal(err)
	}
}

func TestDefaultExcludeServices(t *testing.T) {
	_, exclude, err := ServicesConfig{DefaultExcludeServices: DefaultExcludeServices()}.Compile()
	if err != nil {
		t.Fatal(err)
	}
	for exe, want := range map[string]bool{
		"/otelcol":                       true,
		"/usr/bin/otelcol-contrib":       true,
		"/otelcol-ebpfred":               true,
		"/work/main/bin/otelcol-ebpfred": true,
		"/usr/local/bin/beyla":           true,
		"/obi":                           true,
		"/bin/alloy":                     true,
		"/opt/datadog-agent/bin/agent/datadog-agent": true,
		"/fluent-bit/bin/fluent-bit":                 true,
		"/usr/bin/nginx":                             false,
		"/usr/bin/python3":                           false,
		"/srv/obi-shop/server":                       false,
		"/usr/local/bin/beyla-demo-shop":             false,
	} {
		c := &candidate{exe: exe, cgLoaded: true, podLoaded: true}
		got := false
		for i := range exclude {
			got = got || exclude[i].matches(c)
		}
		if got != want {
			t.Errorf("%s excluded = %v, want %v", exe, got, want)
		}
	}
}
