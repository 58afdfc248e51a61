package distribution

import (
	"os"
	"testing"
)

// podEnv stands in, while the tests run `validate`, for the environment that
// the Kubernetes manifests and the Helm chart give the collector container
// (downward API and plain values). The collector configurations embedded
// there read these variables without a default: k8s_attributes even refuses
// a configuration whose node_from_env_var names an unset variable.
// TestManifestEnv checks that every such variable is both set by its
// manifest and listed here.
var podEnv = map[string]string{
	"K8S_NODE_NAME":               "validate-node",
	"K8S_POD_NAME":                "validate-pod",
	"K8S_POD_UID":                 "00000000-0000-0000-0000-000000000000",
	"K8S_NAMESPACE":               "default",
	"MY_POD_IP":                   "127.0.0.1",
	"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4317",
}

func TestMain(m *testing.M) {
	for k, v := range podEnv {
		if _, ok := os.LookupEnv(k); !ok {
			os.Setenv(k, v)
		}
	}
	os.Exit(m.Run())
}
