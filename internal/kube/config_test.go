package kube

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

func TestConfigUnmarshal(t *testing.T) {
	tests := []struct {
		in   map[string]any
		want Enable
	}{
		{map[string]any{"enable": true}, EnableTrue},
		{map[string]any{"enable": false}, EnableFalse},
		{map[string]any{"enable": "true"}, EnableTrue},
		{map[string]any{"enable": "autodetect"}, EnableAutodetect},
		{map[string]any{}, EnableAutodetect}, // the default stays
	}
	for _, tt := range tests {
		// Nested, as in the receiver's configuration.
		var outer struct {
			Kubernetes Config `mapstructure:"kubernetes"`
		}
		outer.Kubernetes = DefaultConfig()
		in := map[string]any{"kubernetes": tt.in}
		if err := confmap.NewFromStringMap(in).Unmarshal(&outer); err != nil {
			t.Fatalf("%v: %v", tt.in, err)
		}
		if outer.Kubernetes.Enable != tt.want || outer.Kubernetes.SyncTimeout != DefaultSyncTimeout {
			t.Errorf("%v: got %+v, want enable %q and the default timeout", tt.in, outer.Kubernetes, tt.want)
		}
	}
	var c Config
	err := confmap.NewFromStringMap(map[string]any{"node_name": "n", "informers_sync_timeout": "3s", "bogus": 1}).Unmarshal(&c)
	if err == nil || !strings.Contains(err.Error(), "bogus") {
		t.Errorf("unknown key accepted: %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	if err := DefaultConfig().Check(); err != nil {
		t.Errorf("default: %v", err)
	}
	err := Config{Enable: "yes", SyncTimeout: -time.Second, KubeconfigPath: "/nonexistent/kubeconfig"}.Check()
	want := []string{
		`kubernetes.enable: "yes": use one of true, false, autodetect`,
		`kubernetes.informers_sync_timeout: -1s: must be 0 (do not wait) or more; e.g. 10s`,
		`kubernetes.kubeconfig_path: "/nonexistent/kubeconfig": no such file or directory; remove the key to use the in-cluster configuration`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("Check:\n got  %v\n want %s", err, strings.Join(want, "\n"))
	}
}

func TestNewWithoutKubernetes(t *testing.T) {
	t.Setenv("KUBERNETES_SERVICE_HOST", "")
	for _, e := range []Enable{EnableFalse, EnableAutodetect, ""} {
		s, err := New(Config{Enable: e}, Options{})
		if s != nil || err != nil {
			t.Errorf("enable %q on a bare host: store %v, error %v; want neither", e, s, err)
		}
	}
	_, err := New(Config{Enable: EnableTrue}, Options{})
	if err == nil || !strings.Contains(err.Error(), "not running in a pod") {
		t.Errorf("enable true on a bare host: %v", err)
	}

	// Autodetect in a pod without a service account token: off, no error.
	t.Setenv("KUBERNETES_SERVICE_HOST", "10.0.0.1")
	t.Setenv("KUBERNETES_SERVICE_PORT", "443")
	if _, err := os.Stat("/var/run/secrets/kubernetes.io/serviceaccount/token"); err != nil {
		if s, err := New(Config{Enable: EnableAutodetect}, Options{}); s != nil || err != nil {
			t.Errorf("autodetect without a token: store %v, error %v", s, err)
		}
	}

	// A kubeconfig but no node name.
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`), 0o600)
	t.Setenv(NodeNameEnv, "")
	_, err = New(Config{KubeconfigPath: kc}, Options{})
	if err == nil || !strings.Contains(err.Error(), "K8S_NODE_NAME") {
		t.Errorf("no node name: %v", err)
	}
	t.Setenv(NodeNameEnv, "node-7")
	s, err := New(Config{KubeconfigPath: kc}, Options{})
	if err != nil || s == nil || s.NodeName() != "node-7" {
		t.Fatalf("kubeconfig and node: %v %v", s, err)
	}
	s.Stop() // never started: nothing was contacted
}
