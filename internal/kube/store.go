package kube

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
)

// Options tune a Store.
type Options struct {
	Logger *zap.Logger
	// Annotations are pod annotation keys kept in the cache besides the
	// resource.opentelemetry.io/ ones: those discovery selectors match on.
	Annotations []string
}

const (
	indexUID         = "uid"
	indexContainerID = "containerID"

	// ownerGetTimeout bounds one GET of a ReplicaSet or a Job.
	ownerGetTimeout = 5 * time.Second
	// ownerRetry is how long a failed owner GET waits before the next pod
	// event may try again.
	ownerRetry = 30 * time.Second
)

// Store keeps the pods of one node, indexed by pod UID and by container ID,
// and the owners of their ReplicaSets and Jobs. Lookups are safe for
// concurrent use and never wait on the API server. A nil *Store finds
// nothing.
type Store struct {
	node     string
	client   kubernetes.Interface
	log      *zap.Logger
	informer cache.SharedIndexInformer
	owners   *owners

	ctx      context.Context
	cancel   context.CancelFunc
	started  atomic.Bool
	done     chan struct{}
	stopOnce sync.Once
}

// New returns a Store for cfg, or nil without error when Kubernetes is not
// to be used: enable is false, or autodetect finds no cluster (which it
// logs). It creates the client but does not contact the API server: Start
// does.
func New(cfg Config, opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	enable := cfg.Enable
	if enable == "" {
		enable = EnableAutodetect
	}
	if enable == EnableFalse {
		return nil, nil
	}
	var rc *rest.Config
	var err error
	switch {
	case cfg.KubeconfigPath != "":
		if rc, err = clientcmd.BuildConfigFromFlags("", cfg.KubeconfigPath); err != nil {
			return nil, fmt.Errorf("kubernetes.kubeconfig_path: %q: %w", cfg.KubeconfigPath, err)
		}
	case os.Getenv("KUBERNETES_SERVICE_HOST") == "":
		if enable == EnableTrue {
			return nil, errors.New("kubernetes.enable is true but the collector is not running in a pod (KUBERNETES_SERVICE_HOST is not set): set kubernetes.kubeconfig_path, or kubernetes.enable: autodetect")
		}
		log.Info("Kubernetes metadata off: not running in a pod (KUBERNETES_SERVICE_HOST is not set)")
		return nil, nil
	default:
		if rc, err = rest.InClusterConfig(); err != nil {
			if enable == EnableTrue {
				return nil, fmt.Errorf("kubernetes.enable is true but the in-cluster configuration does not load (%w): mount the service account token (automountServiceAccountToken: true), or set kubernetes.kubeconfig_path", err)
			}
			log.Warn("Kubernetes metadata off: KUBERNETES_SERVICE_HOST is set but the in-cluster configuration does not load; mount the service account token, or set kubernetes.enable: false to silence this", zap.Error(err))
			return nil, nil
		}
	}
	node := cfg.nodeName()
	if node == "" {
		return nil, fmt.Errorf("kubernetes: the node name is unknown, and without it every pod of the cluster would be watched: set the %s environment variable from the downward API (valueFrom.fieldRef.fieldPath: spec.nodeName) or kubernetes.node_name; or set kubernetes.enable: false", NodeNameEnv)
	}
	rc.UserAgent = "ebpfred"
	rc.ContentType = "application/vnd.kubernetes.protobuf"
	rc.AcceptContentTypes = "application/vnd.kubernetes.protobuf,application/json"
	// The owner GETs come in a burst when the pod list first arrives.
	if rc.QPS == 0 {
		rc.QPS, rc.Burst = 20, 50
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: cannot create the client: %w", err)
	}
	return NewWithClient(client, node, opts), nil
}

// NewWithClient returns a Store that watches the pods of node through
// client (a fake one in tests).
func NewWithClient(client kubernetes.Interface, node string, opts Options) *Store {
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Store{node: node, client: client, log: log, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	s.owners = newOwners(s.getParent, log)

	keep := map[string]bool{}
	for _, k := range opts.Annotations {
		keep[k] = true
	}
	keepFn := func(k string) bool { return keep[k] }

	s.informer = coreinformers.NewFilteredPodInformer(client, metav1.NamespaceAll, 0,
		cache.Indexers{indexUID: s.indexUID, indexContainerID: s.indexContainerIDs},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", node).String()
		})
	_ = s.informer.SetTransform(func(obj any) (any, error) {
		if p, ok := obj.(*corev1.Pod); ok {
			return stripPod(p, keepFn), nil
		}
		return obj, nil // a DeletedFinalStateUnknown keeps its last state
	})
	_, _ = s.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if p := s.podOf(obj); p != nil {
				s.owners.track(s.ctx, p)
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			// Track the new state before releasing the old one so that a
			// resolved owner is not forgotten and fetched again.
			if p := s.podOf(newObj); p != nil {
				s.owners.track(s.ctx, p)
			}
			if p := s.podOf(oldObj); p != nil {
				s.owners.untrack(p)
			}
		},
		DeleteFunc: func(obj any) {
			if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = d.Obj
			}
			if p := s.podOf(obj); p != nil {
				s.owners.untrack(p)
			}
		},
	})
	return s
}

// NodeName is the node whose pods the Store watches.
func (s *Store) NodeName() string {
	if s == nil {
		return ""
	}
	return s.node
}

// Start starts watching in the background. It returns at once.
func (s *Store) Start() {
	if s == nil || !s.started.CompareAndSwap(false, true) {
		return
	}
	go func() {
		defer close(s.done)
		s.informer.RunWithContext(s.ctx)
	}()
}

// WaitForSync waits until the first list of pods is in, or ctx ends; it
// reports whether the list is in.
func (s *Store) WaitForSync(ctx context.Context) bool {
	if s == nil {
		return false
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !s.informer.HasSynced() {
		select {
		case <-ctx.Done():
			return false
		case <-s.ctx.Done():
			return false
		case <-t.C:
		}
	}
	return true
}

// HasSynced reports whether the first list of pods is in.
func (s *Store) HasSynced() bool { return s != nil && s.informer.HasSynced() }

// Stop stops watching and waits for the informer's goroutines. It may be
// called more than once, and without Start.
func (s *Store) Stop() {
	if s == nil {
		return
	}
	s.stopOnce.Do(func() {
		s.cancel()
		if s.started.Load() {
			<-s.done
		}
	})
}

// ByContainerID returns the pod that runs the container with this runtime
// ID (64 hex digits, without the "containerd://" scheme), or nil.
func (s *Store) ByContainerID(id string) *Pod {
	if s == nil || id == "" {
		return nil
	}
	objs, _ := s.informer.GetIndexer().ByIndex(indexContainerID, id)
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			v := s.view(p)
			v.ContainerName = containerName(p, id)
			return v
		}
	}
	return nil
}

// ByUID returns the pod with this UID, or nil.
func (s *Store) ByUID(uid string) *Pod {
	if s == nil || uid == "" {
		return nil
	}
	objs, _ := s.informer.GetIndexer().ByIndex(indexUID, uid)
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok {
			return s.view(p)
		}
	}
	return nil
}

// Len returns how many pods of the node are cached.
func (s *Store) Len() int {
	if s == nil {
		return 0
	}
	return len(s.informer.GetIndexer().ListIndexFuncValues(indexUID))
}

// view builds the lookup answer for a cached pod.
func (s *Store) view(p *corev1.Pod) *Pod {
	v := &Pod{
		UID: string(p.UID), Name: p.Name, Namespace: p.Namespace, NodeName: p.Spec.NodeName,
		Labels: p.Labels, Annotations: p.Annotations,
	}
	c := controllerOf(p.OwnerReferences)
	if c == nil {
		return v
	}
	switch c.Kind {
	case "ReplicaSet":
		v.ReplicaSet = c.Name
		if parent, known := s.owners.parent(ownerKey{c.Kind, p.Namespace, c.Name}); known {
			if parent.kind == "Deployment" {
				v.Deployment = parent.name
			}
		} else {
			v.Deployment = deploymentFromHash(c.Name, p.Labels)
		}
	case "StatefulSet":
		v.StatefulSet = c.Name
	case "DaemonSet":
		v.DaemonSet = c.Name
	case "Job":
		v.Job = c.Name
		if parent, known := s.owners.parent(ownerKey{c.Kind, p.Namespace, c.Name}); known && parent.kind == "CronJob" {
			v.CronJob = parent.name
		}
	}
	return v
}

// podOf returns obj as a pod of this node, or nil.
func (s *Store) podOf(obj any) *corev1.Pod {
	p, ok := obj.(*corev1.Pod)
	if !ok || p.Spec.NodeName != s.node {
		return nil
	}
	return p
}

// The indexers leave out pods of other nodes: the field selector already
// does on a real API server, but not every client (the fake one) honours
// it, and a pod must never be attributed across nodes.
func (s *Store) indexUID(obj any) ([]string, error) {
	if p := s.podOf(obj); p != nil && p.UID != "" {
		return []string{string(p.UID)}, nil
	}
	return nil, nil
}

func (s *Store) indexContainerIDs(obj any) ([]string, error) {
	if p := s.podOf(obj); p != nil {
		return containerIDs(p), nil
	}
	return nil, nil
}

// getParent asks the API server for the controller of a ReplicaSet or Job.
func (s *Store) getParent(ctx context.Context, k ownerKey) (ref, error) {
	ctx, cancel := context.WithTimeout(ctx, ownerGetTimeout)
	defer cancel()
	var refs []metav1.OwnerReference
	switch k.kind {
	case "ReplicaSet":
		rs, err := s.client.AppsV1().ReplicaSets(k.namespace).Get(ctx, k.name, metav1.GetOptions{})
		if err != nil {
			return ref{}, err
		}
		refs = rs.OwnerReferences
	case "Job":
		job, err := s.client.BatchV1().Jobs(k.namespace).Get(ctx, k.name, metav1.GetOptions{})
		if err != nil {
			return ref{}, err
		}
		refs = job.OwnerReferences
	}
	if c := controllerOf(refs); c != nil {
		return ref{c.Kind, c.Name}, nil
	}
	return ref{}, nil
}

// ownerKey names a ReplicaSet or Job.
type ownerKey struct{ kind, namespace, name string }

// ref is a controller of an owner: kind and name, zero when it has none.
type ref struct{ kind, name string }

type ownerEntry struct {
	refs    int  // pods of the node that point at the owner
	known   bool // parent was fetched
	parent  ref
	lastTry time.Time
}

// owners resolves ReplicaSet → Deployment and Job → CronJob with lazy,
// cached GETs: one per ReplicaSet or Job of the node's pods, not a watch
// of every ReplicaSet of the cluster. Entries live as long as a pod of the
// node points at them, so the cache is bounded by the node's pods.
type owners struct {
	get func(context.Context, ownerKey) (ref, error)
	log *zap.Logger

	mu     sync.Mutex
	m      map[ownerKey]*ownerEntry
	denied map[string]bool // kinds RBAC does not let us get: not asked again
	now    func() time.Time
}

func newOwners(get func(context.Context, ownerKey) (ref, error), log *zap.Logger) *owners {
	return &owners{get: get, log: log, m: map[ownerKey]*ownerEntry{}, denied: map[string]bool{}, now: time.Now}
}

// resolvable returns the owner of p that has an owner worth fetching.
func resolvable(p *corev1.Pod) (ownerKey, bool) {
	c := controllerOf(p.OwnerReferences)
	if c == nil || (c.Kind != "ReplicaSet" && c.Kind != "Job") {
		return ownerKey{}, false
	}
	return ownerKey{c.Kind, p.Namespace, c.Name}, true
}

// track counts p's reference to its owner and fetches the owner's own
// controller when not known yet. It runs on the informer's handler
// goroutine: a slow GET delays later notifications, never lookups.
func (o *owners) track(ctx context.Context, p *corev1.Pod) {
	k, ok := resolvable(p)
	if !ok {
		return
	}
	o.mu.Lock()
	e := o.m[k]
	if e == nil {
		e = &ownerEntry{}
		o.m[k] = e
	}
	e.refs++
	fetch := !e.known && !o.denied[k.kind] && (e.lastTry.IsZero() || o.now().Sub(e.lastTry) >= ownerRetry)
	if fetch {
		e.lastTry = o.now()
	}
	o.mu.Unlock()
	if !fetch {
		return
	}

	parent, err := o.get(ctx, k)
	o.mu.Lock()
	defer o.mu.Unlock()
	switch {
	case err == nil:
		e.parent, e.known = parent, true
	case apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err):
		if !o.denied[k.kind] {
			o.denied[k.kind] = true
			o.log.Warn("Kubernetes: cannot get "+k.kind+"s, so their owners are guessed from names; grant get on them to the collector's ServiceAccount",
				zap.Error(err))
		}
	default:
		// Not found (deleted meanwhile) or the API server is unreachable:
		// names are guessed until a later pod event retries.
		o.log.Debug("Kubernetes: owner lookup failed", zap.String("kind", k.kind),
			zap.String("namespace", k.namespace), zap.String("name", k.name), zap.Error(err))
	}
}

// untrack drops p's reference to its owner; the entry goes with the last.
func (o *owners) untrack(p *corev1.Pod) {
	k, ok := resolvable(p)
	if !ok {
		return
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	if e := o.m[k]; e != nil {
		if e.refs--; e.refs <= 0 {
			delete(o.m, k)
		}
	}
}

// parent returns the controller of k and whether it was fetched.
func (o *owners) parent(k ownerKey) (ref, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if e := o.m[k]; e != nil && e.known {
		return e.parent, true
	}
	return ref{}, false
}

// len returns how many owners are cached.
func (o *owners) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.m)
}
