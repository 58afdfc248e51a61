package discovery

import (
	"errors"
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"

	"github.com/ebpfred/ebpfred/internal/portrange"
)

// ServicesConfig is the discovery section of the receiver configuration,
// in the shape of Beyla's discovery.services:
//
//	discovery:
//	  services:                 # what to instrument; any entry selects
//	    - name: checkout
//	      open_ports: "8080"
//	  exclude_services: [...]    # never instrumented, whatever selects them
//	  default_exclude_services: [...] # the same, preset (telemetry agents)
//
// A process is instrumented when it matches an entry of Services (or the
// receiver's top-level open_port/executable_name shorthand) and no entry of
// ExcludeServices or DefaultExcludeServices. An entry matches when every
// criterion it sets matches.
type ServicesConfig struct {
	Services               []SelectorConfig `mapstructure:"services"`
	ExcludeServices        []SelectorConfig `mapstructure:"exclude_services"`
	DefaultExcludeServices []SelectorConfig `mapstructure:"default_exclude_services"`
}

// SelectorConfig is one entry of a discovery list. Regular expressions are
// Go's (https://pkg.go.dev/regexp/syntax), unanchored: "node" also matches
// "/usr/bin/nodejs"; write "^...$" to match a whole value.
type SelectorConfig struct {
	// Name and Namespace are the service.name and service.namespace of
	// what the entry selects; they win over what the process or Kubernetes
	// says. Only for services (an exclusion reports nothing).
	Name      string `mapstructure:"name"`
	Namespace string `mapstructure:"namespace"`

	// OpenPorts selects processes listening on any of these TCP ports:
	// "80,443,8000-8999".
	OpenPorts string `mapstructure:"open_ports"`
	// ExePathRegexp is matched against the executable's full path.
	ExePathRegexp string `mapstructure:"exe_path_regexp"`
	// ContainersOnly selects processes that run in a container (their
	// cgroup names one).
	ContainersOnly bool `mapstructure:"containers_only"`

	// Kubernetes criteria (need Kubernetes metadata: a process whose pod
	// is not known does not match them).
	K8sNamespace       string `mapstructure:"k8s_namespace"`
	K8sPodName         string `mapstructure:"k8s_pod_name"`
	K8sContainerName   string `mapstructure:"k8s_container_name"`
	K8sDeploymentName  string `mapstructure:"k8s_deployment_name"`
	K8sReplicaSetName  string `mapstructure:"k8s_replicaset_name"`
	K8sStatefulSetName string `mapstructure:"k8s_statefulset_name"`
	K8sDaemonSetName   string `mapstructure:"k8s_daemonset_name"`
	K8sJobName         string `mapstructure:"k8s_job_name"`
	K8sCronJobName     string `mapstructure:"k8s_cronjob_name"`
	// K8sOwnerName matches any of the pod's controllers (deployment,
	// replicaset, statefulset, daemonset, cronjob, job).
	K8sOwnerName string `mapstructure:"k8s_owner_name"`
	// K8sPodLabels and K8sPodAnnotations map a key to a regular
	// expression its value must match; the key must be present.
	K8sPodLabels      map[string]string `mapstructure:"k8s_pod_labels"`
	K8sPodAnnotations map[string]string `mapstructure:"k8s_pod_annotations"`
}

// telemetryAgents are executables whose traffic is telemetry about other
// programs: instrumenting them would report the pipeline to itself.
const telemetryAgents = `(?:^|/)(?:otelcol[^/]*|otel-?collector[^/]*|opentelemetry-collector[^/]*|` +
	`ebpfred[^/]*|beyla|obi|ebpf-instrument|alloy|grafana-agent|` +
	`datadog-agent|trace-agent|process-agent|system-probe|security-agent|` +
	`fluent-bit|fluentd|td-agent-bit|vector|promtail|splunk-otel-collector|` +
	`elastic-agent|coroot-node-agent|prometheus-config-reloader)$`

// systemNamespaces are Kubernetes namespaces of the cluster's own
// machinery (the same idea as OBI's default exclusion).
const systemNamespaces = `^(?:kube-system|kube-node-lease|gke-managed-.+|gke-system|gke-gmp-system|gmp-system|gke-connect)$`

// DefaultExcludeServices is the default of default_exclude_services:
// telemetry agents by executable path (collectors, Beyla/OBI, Alloy,
// Datadog, Fluent Bit, ...) and the Kubernetes system namespaces. A
// configuration that sets the key replaces the whole list ([] removes it).
func DefaultExcludeServices() []SelectorConfig {
	return []SelectorConfig{
		{ExePathRegexp: telemetryAgents},
		{K8sNamespace: systemNamespaces},
	}
}

// Check reports every problem of the section at once. Each message names
// the key path, the value and what to write instead, e.g.
// `discovery.services[1].open_ports: "90-80": range end before start; write "80-90"`.
// (Not named Validate: the collector would call it itself on a nested
// config and report each problem twice; the receiver's Validate calls it.)
func (c ServicesConfig) Check() error {
	_, _, err := c.Compile()
	return err
}

// Compile turns the section into selectors: include are the services
// entries, exclude the exclude_services then default_exclude_services
// entries. It fails with Check's error.
func (c ServicesConfig) Compile() (include, exclude []Selector, err error) {
	var errs []error
	compileList := func(key string, list []SelectorConfig, isExclude bool) []Selector {
		out := make([]Selector, 0, len(list))
		for i, e := range list {
			s, es := e.compile(fmt.Sprintf("discovery.%s[%d]", key, i), isExclude)
			errs = append(errs, es...)
			out = append(out, s)
		}
		return out
	}
	include = compileList("services", c.Services, false)
	exclude = compileList("exclude_services", c.ExcludeServices, true)
	exclude = append(exclude, compileList("default_exclude_services", c.DefaultExcludeServices, true)...)
	if len(errs) > 0 {
		return nil, nil, errors.Join(errs...)
	}
	return include, exclude, nil
}

// UsesKubernetes returns the key path of the first Kubernetes criterion of
// services or exclude_services ("" when there is none), for a message when
// Kubernetes metadata is off. default_exclude_services does not count: its
// system-namespace entry is harmless without Kubernetes.
func (c ServicesConfig) UsesKubernetes() string {
	for _, l := range []struct {
		key  string
		list []SelectorConfig
	}{{"services", c.Services}, {"exclude_services", c.ExcludeServices}} {
		for i, e := range l.list {
			if k := e.firstK8sKey(); k != "" {
				return fmt.Sprintf("discovery.%s[%d].%s", l.key, i, k)
			}
		}
	}
	return ""
}

// SelectsByExecutable reports whether an entry of services selects by
// executable path: then a freshly exec'd process may be selected at once.
func (c ServicesConfig) SelectsByExecutable() bool {
	return slices.ContainsFunc(c.Services, func(e SelectorConfig) bool { return e.ExePathRegexp != "" })
}

// PodAnnotationKeys are the annotation keys some entry matches on: the
// Kubernetes pod cache must keep them (it drops other annotations).
func (c ServicesConfig) PodAnnotationKeys() []string {
	var keys []string
	for _, list := range [][]SelectorConfig{c.Services, c.ExcludeServices, c.DefaultExcludeServices} {
		for _, e := range list {
			for k := range e.K8sPodAnnotations {
				if !slices.Contains(keys, k) {
					keys = append(keys, k)
				}
			}
		}
	}
	slices.Sort(keys)
	return keys
}

// k8sRegexps lists the Kubernetes regexp criteria of an entry with their
// keys, in the order messages report them.
func (e *SelectorConfig) k8sRegexps() []struct{ key, expr string } {
	return []struct{ key, expr string }{
		{"k8s_namespace", e.K8sNamespace},
		{"k8s_pod_name", e.K8sPodName},
		{"k8s_container_name", e.K8sContainerName},
		{"k8s_deployment_name", e.K8sDeploymentName},
		{"k8s_replicaset_name", e.K8sReplicaSetName},
		{"k8s_statefulset_name", e.K8sStatefulSetName},
		{"k8s_daemonset_name", e.K8sDaemonSetName},
		{"k8s_job_name", e.K8sJobName},
		{"k8s_cronjob_name", e.K8sCronJobName},
		{"k8s_owner_name", e.K8sOwnerName},
	}
}

func (e *SelectorConfig) firstK8sKey() string {
	for _, r := range e.k8sRegexps() {
		if r.expr != "" {
			return r.key
		}
	}
	if len(e.K8sPodLabels) > 0 {
		return "k8s_pod_labels"
	}
	if len(e.K8sPodAnnotations) > 0 {
		return "k8s_pod_annotations"
	}
	return ""
}

// compile checks and compiles one entry; path is its key path for
// messages ("discovery.services[1]").
func (e SelectorConfig) compile(path string, isExclude bool) (Selector, []error) {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	s := Selector{Name: e.Name, Namespace: e.Namespace, ContainersOnly: e.ContainersOnly}

	if isExclude {
		for _, kv := range [][2]string{{"name", e.Name}, {"namespace", e.Namespace}} {
			if kv[1] != "" {
				add("%s.%s: %q: an exclusion reports nothing, so it takes no %s; remove it", path, kv[0], kv[1], kv[0])
			}
		}
	}
	if strings.TrimSpace(e.OpenPorts) != "" {
		set, err := portrange.Parse(e.OpenPorts)
		if err != nil {
			add("%s.open_ports: %w", path, err)
		} else {
			s.Ports = set.Contains
		}
	}
	re := func(key, expr string) *regexp.Regexp {
		if expr == "" {
			return nil
		}
		r, err := regexp.Compile(expr)
		if err != nil {
			add("%s.%s: %q: not a valid Go regular expression (%s); see https://pkg.go.dev/regexp/syntax", path, key, expr, regexpProblem(expr, err))
		}
		return r
	}
	s.ExePath = re("exe_path_regexp", e.ExePathRegexp)
	dst := []**regexp.Regexp{&s.k8sNamespace, &s.k8sPodName, &s.k8sContainerName, &s.k8sDeployment, &s.k8sReplicaSet,
		&s.k8sStatefulSet, &s.k8sDaemonSet, &s.k8sJob, &s.k8sCronJob, &s.k8sOwner}
	for i, r := range e.k8sRegexps() {
		*dst[i] = re(r.key, r.expr)
	}
	kv := func(key string, m map[string]string) []keyRegexp {
		keys := make([]string, 0, len(m))
		for k := range m {
			keys = append(keys, k)
		}
		slices.Sort(keys) // reproducible messages
		var out []keyRegexp
		for _, k := range keys {
			if strings.TrimSpace(k) == "" {
				add("%s.%s: an empty key; write the %s name, e.g. app: \"^checkout$\"", path, key, strings.TrimPrefix(key, "k8s_pod_"))
				continue
			}
			if r := re(key+"."+k, m[k]); r != nil {
				out = append(out, keyRegexp{k, r})
			}
		}
		return out
	}
	s.k8sLabels = kv("k8s_pod_labels", e.K8sPodLabels)
	s.k8sAnnotations = kv("k8s_pod_annotations", e.K8sPodAnnotations)

	if strings.TrimSpace(e.OpenPorts) == "" && e.ExePathRegexp == "" && !e.ContainersOnly && e.firstK8sKey() == "" {
		what := "selects nothing"
		if isExclude {
			what = "excludes nothing"
		}
		add("%s: no criteria, so the entry %s; set at least one of open_ports, exe_path_regexp, containers_only or a k8s_* key, e.g. open_ports: \"8080\"", path, what)
	}
	return s, errs
}

// regexpProblem says what is wrong with expr without the "error parsing
// regexp" prefix the surrounding message makes redundant.
func regexpProblem(expr string, err error) string {
	var se *syntax.Error
	if !errors.As(err, &se) {
		return err.Error()
	}
	if se.Expr == expr {
		return se.Code.String()
	}
	return fmt.Sprintf("%s: `%s`", se.Code, se.Expr)
}
