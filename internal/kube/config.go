package kube

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"go.opentelemetry.io/collector/confmap"
)

// Enable says whether Kubernetes metadata is used.
type Enable string

const (
	// EnableAutodetect uses Kubernetes when the collector runs in a pod
	// (KUBERNETES_SERVICE_HOST is set and the in-cluster configuration
	// loads), and nothing otherwise. The default.
	EnableAutodetect Enable = "autodetect"
	// EnableTrue always uses Kubernetes; the receiver fails to start when
	// no client configuration can be found.
	EnableTrue Enable = "true"
	// EnableFalse never creates a Kubernetes client.
	EnableFalse Enable = "false"
)

// NodeNameEnv is the environment variable the node name is read from when
// node_name is not set. The DaemonSet sets it through the downward API
// (fieldRef: spec.nodeName).
const NodeNameEnv = "K8S_NODE_NAME"

// DefaultSyncTimeout bounds how long Start-up waits for the first list of
// pods before discovery starts without it.
const DefaultSyncTimeout = 10 * time.Second

// Config is the kubernetes section of the receiver configuration.
type Config struct {
	// Enable is true, false or autodetect (the default). YAML booleans are
	// accepted as well as strings.
	Enable Enable `mapstructure:"enable"`
	// NodeName is the node whose pods are watched; empty means the
	// K8S_NODE_NAME environment variable.
	NodeName string `mapstructure:"node_name"`
	// KubeconfigPath, when set, is used instead of the in-cluster
	// configuration (running the collector on a node outside a pod, or
	// trying things out from a workstation).
	KubeconfigPath string `mapstructure:"kubeconfig_path"`
	// SyncTimeout is how long the receiver waits at start for the pods of
	// the node to be listed; discovery starts anyway afterwards and
	// completes identities when the metadata arrives.
	SyncTimeout time.Duration `mapstructure:"informers_sync_timeout"`
}

// DefaultConfig returns the configuration used when the section is absent.
func DefaultConfig() Config {
	return Config{Enable: EnableAutodetect, SyncTimeout: DefaultSyncTimeout}
}

var _ confmap.Unmarshaler = (*Config)(nil)

// Unmarshal accepts `enable: true` and `enable: false` as YAML booleans:
// mapstructure would otherwise refuse a bool for a string field.
func (c *Config) Unmarshal(conf *confmap.Conf) error {
	raw := conf.ToStringMap()
	if b, ok := raw["enable"].(bool); ok {
		raw["enable"] = fmt.Sprint(b)
	}
	// plain has Config's fields without its methods, so decoding into it
	// does not come back here.
	type plain Config
	p := plain(*c)
	if err := confmap.NewFromStringMap(raw).Unmarshal(&p); err != nil {
		return err
	}
	*c = Config(p)
	return nil
}

// Check reports every problem of the section at once, each naming the key,
// the value and what to write instead. (Not named Validate: the collector
// would call it itself on a nested config and report each problem twice;
// the receiver's Validate calls it.)
func (c Config) Check() error {
	var errs []error
	switch c.Enable {
	case "", EnableAutodetect, EnableTrue, EnableFalse:
	default:
		errs = append(errs, fmt.Errorf("kubernetes.enable: %q: use one of true, false, autodetect", string(c.Enable)))
	}
	if c.SyncTimeout < 0 {
		errs = append(errs, fmt.Errorf("kubernetes.informers_sync_timeout: %s: must be 0 (do not wait) or more; e.g. %s", c.SyncTimeout, DefaultSyncTimeout))
	}
	if c.KubeconfigPath != "" {
		if _, err := os.Stat(c.KubeconfigPath); err != nil && c.Enable != EnableFalse {
			errs = append(errs, fmt.Errorf("kubernetes.kubeconfig_path: %q: %v; remove the key to use the in-cluster configuration", c.KubeconfigPath, unwrapPathError(err)))
		}
	}
	return errors.Join(errs...)
}

// nodeName returns the configured node name or the environment's.
func (c Config) nodeName() string {
	if n := strings.TrimSpace(c.NodeName); n != "" {
		return n
	}
	return strings.TrimSpace(os.Getenv(NodeNameEnv))
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
