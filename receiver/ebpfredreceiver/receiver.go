package ebpfredreceiver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver"
	"go.opentelemetry.io/collector/receiver/receiverhelper"
	"go.opentelemetry.io/otel/metric"
	"go.uber.org/zap"

	"github.com/ebpfred/ebpfred/internal/discovery"
	"github.com/ebpfred/ebpfred/internal/kube"
	"github.com/ebpfred/ebpfred/internal/pidns"
	"github.com/ebpfred/ebpfred/internal/pipeline"
	"github.com/ebpfred/ebpfred/internal/portrange"
	"github.com/ebpfred/ebpfred/internal/probes"
	"github.com/ebpfred/ebpfred/internal/process"
	"github.com/ebpfred/ebpfred/internal/protocol"
	"github.com/ebpfred/ebpfred/internal/protocols"
	"github.com/ebpfred/ebpfred/internal/record"
	"github.com/ebpfred/ebpfred/internal/red"
	"github.com/ebpfred/ebpfred/internal/routes"
	"github.com/ebpfred/ebpfred/internal/servicegraph"
	"github.com/ebpfred/ebpfred/internal/spans"
)

const (
	transport = "ebpf"
	// spanFlushInterval bounds how long a finished span waits before it is
	// handed to the traces pipeline (whose batch processor batches further).
	spanFlushInterval = 200 * time.Millisecond
	// spanBatch: as many spans waiting make the export loop take them
	// before the interval is up. A span's record is about 1 KiB until it
	// is built, and its pdata as much again: at 40 000 requests/s the
	// interval alone let 8 000 wait, most of the collector's heap.
	spanBatch = 1024
	// readerPoll is how often the ring reader wakes when the kernel has not
	// woken it (it submits without wakeups until enough bytes wait).
	readerPoll = 50 * time.Millisecond
)

// ebpfReceiver is one running probe set feeding a traces and/or a metrics
// pipeline.
type ebpfReceiver struct {
	set receiver.Settings
	cfg *Config
	// The pipelines' consumers, known at creation (they decide what is
	// built); each is called only while its signal is attached.
	traces     consumer.Traces
	metrics    consumer.Metrics
	tracesOut  signal
	metricsOut signal

	obs   *receiverhelper.ObsReport
	stats pipeline.Stats

	probes *probes.Probes
	disc   *discovery.Discovery
	pipe   *pipeline.Pipeline
	agg    *red.Aggregator
	graph  *servicegraph.Graph // nil unless metrics.service_graph.enabled
	spans  *spans.Builder
	router *routes.Router
	kube   *kube.Store // nil without Kubernetes metadata

	removed chan []uint32
	// spansFull: spanBatch spans wait (a wake-up for the export loop).
	spansFull chan struct{}
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	telem     *selfTelemetry

	tlsTelem metric.Registration // TLS: see tls.go

	lost lostCounts // requests possibly lost, per service (see Lost)
	// health: the component status reported to each pipeline (health.go).
	health                  health
	tracesHost, metricsHost component.Host
	maps                    mapsCache // kernel map occupancy, for self-telemetry
}

func newReceiver(set receiver.Settings, cfg *Config) (*ebpfReceiver, error) {
	obs, err := receiverhelper.NewObsReport(receiverhelper.ObsReportSettings{
		ReceiverID:             set.ID,
		Transport:              transport,
		ReceiverCreateSettings: set,
	})
	if err != nil {
		return nil, err
	}
	return &ebpfReceiver{set: set, cfg: cfg, obs: obs}, nil
}

func (r *ebpfReceiver) logger() *zap.Logger { return r.set.Logger }

// Start loads the probes, selects processes and starts the readers. Every
// failure is one sentence that says what to do.
func (r *ebpfReceiver) Start(ctx context.Context, _ component.Host) error {
	crit, err := r.criteria()
	if err != nil {
		return err
	}
	include, exclude, err := r.cfg.Discovery.Compile()
	if err != nil {
		return err
	}
	if r.router, err = routes.New(r.cfg.Routes); err != nil {
		return err
	}
	r.kube, err = kube.New(r.cfg.Kubernetes, kube.Options{Logger: r.logger(), Annotations: r.cfg.Discovery.PodAnnotationKeys()})
	if err != nil {
		return fmt.Errorf("ebpfred cannot start: %w", err)
	}
	// Every pid comes from /proc or from the kernel: both must number
	// processes in the collector's namespace.
	ns, err := pidns.Self("/proc")
	if err != nil {
		r.kube.Stop()
		return fmt.Errorf("ebpfred cannot start: %w", err)
	}
	required := make([]probes.Feature, 0, len(r.cfg.RequiredFeatures))
	for _, name := range r.cfg.RequiredFeatures {
		required = append(required, probes.Feature(name)) // checked by Validate
	}
	p, err := probes.Load(probes.Options{
		RingBufferSize:     r.cfg.RingBufferSize,
		TrackExecs:         r.cfg.ExecutableName != "" || r.cfg.Discovery.SelectsByExecutable(),
		ContextPropagation: r.cfg.ContextPropagation == PropagationHeaders,
		AppRoutes:          r.cfg.Routes.FromApplication,
		GoContext:          r.cfg.Traces.LinkInProcess,
		PIDNamespace:       ns,
		Required:           required,
		Refuse:             r.cfg.refuseFeatures,
		CaptureHooks:       strings.TrimPrefix(r.cfg.CaptureHooks, CaptureAuto),
	})
	if err != nil {
		r.kube.Stop()
		var fe *probes.FeatureError
		if errors.As(err, &fe) {
			return fmt.Errorf("ebpfred cannot start: %w (required_features lists %s)", err, fe.Feature)
		}
		return fmt.Errorf("ebpfred cannot start: %w", err)
	}
	r.probes = p
	for _, st := range p.Features() {
		if !st.Active {
			r.logger().Warn("ebpfred runs without a feature: " + st.Err.Error())
		}
	}

	host, _ := os.Hostname()
	dcfg := discovery.Config{Criteria: crit, Services: include, ExcludeServices: exclude,
		Exclude: []int{os.Getpid()}, HostName: host}
	if r.kube != nil {
		r.kube.Start()
		wctx, cancel := context.WithTimeout(ctx, r.cfg.Kubernetes.SyncTimeout)
		if !r.kube.WaitForSync(wctx) {
			r.logger().Warn("ebpfred: the pods of this node are not listed yet; identities are completed when they arrive",
				zap.String("node", r.kube.NodeName()))
		}
		cancel()
		dcfg.Pods = r.kube
	} else if k := r.cfg.Discovery.UsesKubernetes(); k != "" {
		r.logger().Warn("ebpfred: " + k + " needs Kubernetes metadata, which is off here: it matches nothing")
	}
	r.disc = discovery.New(dcfg)

	start := uint64(time.Now().UnixNano())
	if r.metrics != nil {
		r.agg = red.New(red.Config{
			DurationBuckets:  r.cfg.Metrics.DurationBuckets,
			SizeBuckets:      r.cfg.Metrics.SizeBuckets,
			ReportTarget:     r.cfg.Metrics.ReportTarget,
			ReportPeer:       r.cfg.Metrics.ReportPeer,
			ReportServerPort: r.cfg.Metrics.ReportServerPort,
			HostName:         host,

			MaxSeriesPerService: r.cfg.Metrics.MaxSeriesPerService,
		}, start)
		if r.cfg.Metrics.ServiceGraph.Enabled {
			r.graph = servicegraph.New(start, host)
		}
	}
	if r.traces != nil {
		r.spans = spans.NewBuilder(spans.WithHostName(host), spans.WithSampler(r.cfg.Traces.Sampler),
			spans.WithSameNodeLinks(r.cfg.Traces.LinkSameNode))
	}
	protos, _ := protocols.Select(r.cfg.Protocols) // checked by Validate
	r.pipe = pipeline.New(r, r.disc, p, &r.stats, pipeline.Options{Protocols: protos, Router: r.router,
		ProtocolOptions: protocol.Options{QueryText: r.cfg.Database.QueryText}})
	r.removed = make(chan []uint32, 16)
	r.spansFull = make(chan struct{}, 1)

	p.SetTLSLog(r.logTLS) // TLS: see tls.go
	added, _ := r.disc.Scan()
	for _, info := range added {
		_ = p.Adopt(info.PID)
	}
	p.Settle() // the processes found at start have their TLS probes when Start returns
	if !ns.Initial() {
		r.logPIDNamespace(ns)
	}
	r.logger().Info("ebpfred started: instrumenting the selected processes",
		zap.Strings("protocols", names(protos)),
		zap.String("open_port", r.cfg.OpenPort),
		zap.String("executable_name", r.cfg.ExecutableName),
		zap.Int("processes_selected", len(added)),
		zap.Bool("traces", r.traces != nil),
		zap.Bool("metrics", r.metrics != nil),
		zap.String("context_propagation", r.cfg.ContextPropagation),
		zap.String("context_propagation_cgroup", p.PropagationCgroup()),
		zap.String("context_propagation_via", p.PropagationVariant()),
		zap.String("capture_hooks", p.CaptureHooks()),
		zap.Duration("metrics_interval", r.cfg.Metrics.Interval))

	if r.telem, err = newSelfTelemetry(r); err != nil {
		r.logger().Warn("ebpfred self-telemetry unavailable", zap.Error(err))
	}
	if r.tlsTelem, err = newTLSTelemetry(r); err != nil { // TLS: see tls.go
		r.logger().Warn("ebpfred TLS self-telemetry unavailable", zap.Error(err))
	}

	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	r.wg.Add(3)
	go r.readLoop()
	go r.discoveryLoop(ctx)
	go r.exportLoop(ctx)
	return nil
}

// logPIDNamespace says what a collector outside the host's PID namespace
// can instrument, and warns when that is nothing at all.
func (r *ebpfReceiver) logPIDNamespace(ns pidns.Namespace) {
	others := pidns.Others("/proc")
	if others == 0 {
		r.logger().Warn("ebpfred: the collector runs in a PID namespace of its own and sees no other process there, so it instruments nothing: "+
			"in Kubernetes, run it beside the application with shareProcessNamespace: true, or as a DaemonSet with hostPID: true",
			zap.Stringer("pid_namespace", ns))
		return
	}
	r.logger().Info("ebpfred: the collector runs in a PID namespace of its own; it instruments processes of that namespace only, and reports their pids as numbered there",
		zap.Stringer("pid_namespace", ns), zap.Int("processes_visible", others))
}

func (r *ebpfReceiver) criteria() (discovery.Criteria, error) {
	var c discovery.Criteria
	if r.cfg.OpenPort != "" {
		set, err := portrange.Parse(r.cfg.OpenPort)
		if err != nil {
			return c, fmt.Errorf("open_port: %w", err)
		}
		c.Ports = set.Contains
	}
	if r.cfg.ExecutableName != "" {
		re, err := regexp.Compile(r.cfg.ExecutableName)
		if err != nil {
			return c, fmt.Errorf("executable_name: %q: %w", r.cfg.ExecutableName, err)
		}
		c.ExePath = re
	}
	return c, nil
}

// readLoop owns the pipeline: events and housekeeping run on this goroutine.
func (r *ebpfReceiver) readLoop() {
	defer r.wg.Done()
	err := r.probes.Read(readerPoll, r.pipe.Handle, func() {
		for {
			select {
			case pids := <-r.removed:
				r.pipe.Removed(pids)
				continue
			default:
			}
			break
		}
		r.pipe.Tick()
	})
	if err != nil {
		r.logger().Error("ebpfred event reader stopped", zap.Error(err))
	}
	// The reader stopped (Shutdown) but the maps are still there: the
	// last drop counts go into the final flush.
	r.pipe.LostEvents()
}

func (r *ebpfReceiver) discoveryLoop(ctx context.Context) {
	defer r.wg.Done()
	t := time.NewTicker(r.cfg.DiscoveryInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		added, removed := r.disc.Scan()
		for _, info := range added {
			_ = r.probes.Adopt(info.PID)
			r.logger().Debug("ebpfred: instrumenting process", zap.Uint32("pid", info.PID),
				zap.String("service.name", info.ServiceName), zap.String("executable", info.ExecutablePath))
		}
		if len(removed) > 0 {
			select {
			case r.removed <- removed:
			case <-ctx.Done():
				return
			}
		}
	}
}

func (r *ebpfReceiver) exportLoop(ctx context.Context) {
	defer r.wg.Done()
	spanTick := time.NewTicker(spanFlushInterval)
	defer spanTick.Stop()
	metricTick := time.NewTicker(r.cfg.Metrics.Interval)
	defer metricTick.Stop()
	healthTick := time.NewTicker(healthEvery)
	defer healthTick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-spanTick.C:
			r.flushSpans()
		case <-r.spansFull:
			r.flushSpans()
		case <-metricTick.C:
			r.flushMetrics()
		case <-healthTick.C:
			r.judgeHealth()
		}
	}
}

// signal is the state of one pipeline the receiver feeds. Its consumer is
// called only while the signal is attached: from its pipeline's Start to its
// Shutdown, which flushes what is pending and detaches it. The collector
// shuts a pipeline's exporter down after that pipeline's receiver, but in
// no fixed order with the other pipeline's components, so a consumer is
// never called once its own receiver was shut down.
type signal struct {
	mu       sync.Mutex // held while the consumer is called
	attached bool
	// detached: the pipeline stopped; nothing more is produced for it.
	detached atomic.Bool
}

// attach lets s's consumer be called from now on.
func (s *signal) attach() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attached = true
}

// detach stops producing for s, runs flush (the last call of its consumer)
// and returns once no call of its consumer can happen any more.
func (s *signal) detach(flush func()) {
	s.detached.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.attached {
		flush()
	}
	s.attached = false
}

// live says whether records are still wanted for s.
func (s *signal) live() bool { return !s.detached.Load() }

func (r *ebpfReceiver) attachTraces(_ context.Context, host component.Host) error {
	r.tracesOut.attach()
	r.tracesHost = host
	r.health.attach(host)
	return nil
}

func (r *ebpfReceiver) attachMetrics(_ context.Context, host component.Host) error {
	r.metricsOut.attach()
	r.metricsHost = host
	r.health.attach(host)
	return nil
}

// detachTraces: the traces pipeline stops; its pending spans are exported
// first.
func (r *ebpfReceiver) detachTraces(context.Context) error {
	r.health.detach(r.tracesHost)
	r.tracesOut.detach(func() { r.exportSpans(r.spans.TakeAll) })
	return nil
}

// detachMetrics: the metrics pipeline stops; the cumulative metrics are
// exported a last time first.
func (r *ebpfReceiver) detachMetrics(context.Context) error {
	r.health.detach(r.metricsHost)
	r.metricsOut.detach(r.flushMetricsLocked)
	return nil
}

func (r *ebpfReceiver) flushSpans() {
	r.tracesOut.mu.Lock()
	defer r.tracesOut.mu.Unlock()
	if r.tracesOut.attached {
		r.flushSpansLocked()
	}
}

func (r *ebpfReceiver) flushSpansLocked() {
	if r.spans != nil {
		r.exportSpans(r.spans.Take)
	}
}

// exportSpans hands what take returns to the traces pipeline (take: the
// Builder's Take, or TakeAll when no span may wait any longer).
func (r *ebpfReceiver) exportSpans(take func() (ptrace.Traces, int)) {
	if r.spans == nil {
		return
	}
	td, n := take()
	if n == 0 {
		return
	}
	ctx := r.obs.StartTracesOp(context.Background())
	err := r.traces.ConsumeTraces(ctx, td)
	r.obs.EndTracesOp(ctx, transport, n, err)
}

func (r *ebpfReceiver) flushMetrics() {
	r.metricsOut.mu.Lock()
	defer r.metricsOut.mu.Unlock()
	if r.metricsOut.attached {
		r.flushMetricsLocked()
	}
}

func (r *ebpfReceiver) flushMetricsLocked() {
	if r.agg == nil {
		return
	}
	now := uint64(time.Now().UnixNano())
	md := r.agg.Collect(now)
	if r.graph != nil {
		r.graph.AppendTo(md, now)
	}
	n := md.DataPointCount()
	if n == 0 {
		return
	}
	ctx := r.obs.StartMetricsOp(context.Background())
	err := r.metrics.ConsumeMetrics(ctx, md)
	r.obs.EndMetricsOp(ctx, transport, n, err)
}

func names(ps []*protocol.Protocol) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.Name
	}
	return out
}

// Record implements pipeline.Sink. Metrics see 100% of records that
// routes.ignored_patterns does not leave out.
func (r *ebpfReceiver) Record(rec *record.Record, info *process.Info, ign routes.Ignore) {
	if r.agg != nil && !ign.Metrics() && r.metricsOut.live() {
		r.agg.Add(rec, info)
		if r.graph != nil {
			var peer *process.Info
			if rec.PeerPID != 0 {
				peer = r.disc.Lookup(rec.PeerPID)
			}
			r.graph.Add(rec, info, peer)
		}
	}
	if r.spans != nil && !ign.Traces() && r.tracesOut.live() {
		if r.spans.Append(rec, info) >= spanBatch {
			select {
			case r.spansFull <- struct{}{}:
			default: // the export loop was woken already
			}
		}
	}
}

// Lost implements pipeline.LossSink: n of p's events were dropped in the
// kernel (ring full), each possibly a request missing from the metrics
// and spans.
func (r *ebpfReceiver) Lost(p *process.Info, n uint64) {
	if r.agg != nil && r.metricsOut.live() {
		r.agg.AddLost(p, n)
	}
	r.lost.add(p.ServiceName, n)
}

// ProcessGone implements pipeline.Sink.
func (r *ebpfReceiver) ProcessGone(pid uint32) {
	if r.agg != nil {
		r.agg.Forget(pid)
	}
}

// Shutdown detaches every probe and stops every goroutine. It runs when the
// last pipeline stops, before that pipeline's signal is detached: what was
// handled until the probes stopped is in that final flush (the other
// pipeline flushed its own when it stopped).
func (r *ebpfReceiver) Shutdown(context.Context) error {
	if r.cancel == nil {
		return nil // never started
	}
	r.cancel()
	var errs []error
	// The reader first: its last housekeeping reads the maps, which Close
	// then frees once every goroutine is done.
	errs = append(errs, r.probes.StopReading())
	r.wg.Wait()
	errs = append(errs, r.probes.Close())
	r.kube.Stop()
	if r.telem != nil {
		errs = append(errs, r.telem.close())
	}
	if r.tlsTelem != nil {
		errs = append(errs, r.tlsTelem.Unregister())
	}
	r.cancel = nil
	return errors.Join(errs...)
}
