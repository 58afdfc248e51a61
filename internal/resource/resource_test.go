package resource

import (
	"reflect"
	"testing"

	"go.opentelemetry.io/collector/pdata/pcommon"

	"github.com/ebpfred/ebpfred/internal/process"
)

func TestFill(t *testing.T) {
	tests := []struct {
		name string
		info process.Info
		host string
		want map[string]any
	}{
		{
			name: "everything set; Extra sorted in, cannot override identity",
			info: process.Info{
				PID: 42, ServiceName: "checkout", ServiceNamespace: "shop", InstanceID: "i-1",
				ExecutableName: "checkout", ExecutablePath: "/bin/checkout", Command: "checkout",
				Extra: map[string]string{"k8s.pod.uid": "u", "container.id": "c", "process.pid": "bogus"},
			},
			host: "node-1",
			want: map[string]any{
				"service.name": "checkout", "service.namespace": "shop", "service.instance.id": "i-1",
				"process.pid": int64(42), "process.executable.name": "checkout",
				"process.executable.path": "/bin/checkout", "process.command": "checkout",
				"host.name": "node-1", "k8s.pod.uid": "u", "container.id": "c",
			},
		},
		{
			name: "no service name: unknown_service with the executable",
			info: process.Info{PID: 7, ExecutableName: "java"},
			want: map[string]any{"service.name": "unknown_service:java", "process.pid": int64(7), "process.executable.name": "java"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pcommon.NewResource()
			Fill(r, &tt.info, tt.host)
			if got := r.Attributes().AsRaw(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("\n got  %v\n want %v", got, tt.want)
			}
		})
	}
	// Reproducible order: Extra keys sorted after the identity attributes.
	r := pcommon.NewResource()
	Fill(r, &tests[0].info, "node-1")
	var keys []string
	for k := range r.Attributes().All() {
		keys = append(keys, k)
	}
	if n := len(keys); keys[n-2] != "container.id" || keys[n-1] != "k8s.pod.uid" {
		t.Errorf("key order %v: want Extra last, sorted", keys)
	}
}
