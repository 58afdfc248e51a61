package sharedcomponent

import (
	"context"
	"errors"
	"strings"
	"testing"

	"go.opentelemetry.io/collector/component"
)

// recorder is a shared instance that writes down what happens to it and to
// its users, in order.
type recorder struct {
	log      *[]string
	startErr error
}

func (r *recorder) Start(context.Context, component.Host) error {
	*r.log = append(*r.log, "start")
	return r.startErr
}

func (r *recorder) Shutdown(context.Context) error {
	*r.log = append(*r.log, "shutdown")
	return nil
}

func hooks(log *[]string, name string) Hooks {
	return Hooks{
		Attach: func(context.Context, component.Host) error { *log = append(*log, "attach "+name); return nil },
		Detach: func(context.Context) error { *log = append(*log, "detach "+name); return nil },
	}
}

type step struct {
	user  string // "traces" or "metrics"
	start bool   // else shutdown
}

// TestOrdering: whatever order the pipelines start and stop in, the instance
// starts before the first user attaches, a user that stops before the others
// is detached while the instance runs, and the last one is detached after
// the instance stopped (so its final flush has everything the instance
// handled).
func TestOrdering(t *testing.T) {
	for _, c := range []struct {
		name  string
		steps []step
		want  string
	}{
		{"traces stops first", []step{{"traces", true}, {"metrics", true}, {"traces", false}, {"metrics", false}},
			"start, attach traces, attach metrics, detach traces, shutdown, detach metrics"},
		{"metrics stops first", []step{{"traces", true}, {"metrics", true}, {"metrics", false}, {"traces", false}},
			"start, attach traces, attach metrics, detach metrics, shutdown, detach traces"},
		{"metrics starts first", []step{{"metrics", true}, {"traces", true}, {"traces", false}, {"metrics", false}},
			"start, attach metrics, attach traces, detach traces, shutdown, detach metrics"},
		{"one pipeline", []step{{"metrics", true}, {"metrics", false}},
			"start, attach metrics, shutdown, detach metrics"},
		{"shut down twice", []step{{"traces", true}, {"metrics", true}, {"traces", false}, {"traces", false}, {"metrics", false}, {"metrics", false}},
			"start, attach traces, attach metrics, detach traces, shutdown, detach metrics"},
		{"shut down never started", []step{{"traces", true}, {"metrics", false}, {"traces", false}},
			"start, attach traces, shutdown, detach traces"},
	} {
		t.Run(c.name, func(t *testing.T) {
			var log []string
			m := NewMap[string, *recorder]()
			s, err := m.LoadOrStore("ebpfred", func() (*recorder, error) { return &recorder{log: &log}, nil })
			if err != nil {
				t.Fatal(err)
			}
			users := map[string]*User[*recorder]{"traces": s.User(hooks(&log, "traces")), "metrics": s.User(hooks(&log, "metrics"))}
			for _, st := range c.steps {
				var err error
				if st.start {
					err = users[st.user].Start(context.Background(), nil)
				} else {
					err = users[st.user].Shutdown(context.Background())
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if got := strings.Join(log, ", "); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			// Stopped: the next pipelines (a reloaded configuration) get a
			// new instance.
			again, _ := m.LoadOrStore("ebpfred", func() (*recorder, error) { return &recorder{log: &log}, nil })
			if again == s {
				t.Error("the stopped instance is still in the map")
			}
		})
	}
}

// A failed start attaches nothing and leaves nothing to stop; the next
// user's Start tries again.
func TestStartFails(t *testing.T) {
	var log []string
	rec := &recorder{log: &log, startErr: errors.New("no probes")}
	m := NewMap[string, *recorder]()
	s, _ := m.LoadOrStore("ebpfred", func() (*recorder, error) { return rec, nil })
	tr, mr := s.User(hooks(&log, "traces")), s.User(hooks(&log, "metrics"))
	if err := tr.Start(context.Background(), nil); err == nil {
		t.Fatal("Start succeeded")
	}
	rec.startErr = nil
	if err := mr.Start(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	_ = tr.Shutdown(context.Background()) // the collector shuts everything down
	_ = mr.Shutdown(context.Background())
	if got, want := strings.Join(log, ", "), "start, start, attach metrics, shutdown, detach metrics"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

// A failed attach of the only user stops the instance it started.
func TestAttachFails(t *testing.T) {
	var log []string
	m := NewMap[string, *recorder]()
	s, _ := m.LoadOrStore("ebpfred", func() (*recorder, error) { return &recorder{log: &log}, nil })
	u := s.User(Hooks{Attach: func(context.Context, component.Host) error { return errors.New("no") }})
	if err := u.Start(context.Background(), nil); err == nil {
		t.Fatal("Start succeeded")
	}
	if err := u.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(log, ", "), "start, shutdown"; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
