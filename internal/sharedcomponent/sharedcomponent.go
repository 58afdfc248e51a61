// Package sharedcomponent lets the traces and metrics pipelines of one
// component ID share a single running instance (one probe set), the way the
// collector's own receivers do, while each pipeline keeps a life of its
// own.
//
// The collector starts and stops every pipeline's components separately,
// in an order that interleaves pipelines: the exporter of one pipeline can
// be shut down before the shared receiver is stopped through the other.
// So each pipeline uses the shared instance through a User of its own,
// which attaches what the pipeline needs (its consumer) when that pipeline
// starts and detaches it (after a final flush) when that pipeline stops;
// the instance itself starts with the first user and stops with the last.
package sharedcomponent

import (
	"context"
	"errors"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map keeps one Shared instance per key.
type Map[K comparable, V component.Component] struct {
	mu         sync.Mutex
	components map[K]*Shared[V]
}

// NewMap returns an empty Map.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{components: map[K]*Shared[V]{}}
}

// LoadOrStore returns the instance for key, creating it with create when
// absent.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Shared[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.components[key]; ok {
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	c := &Shared[V]{Unwrapped: v}
	c.remove = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		if m.components[key] == c {
			delete(m.components, key)
		}
	}
	m.components[key] = c
	return c, nil
}

// Shared is one instance used by several pipelines.
type Shared[V component.Component] struct {
	Unwrapped V

	mu      sync.Mutex // serialises every user's Start and Shutdown
	running int        // users started and not shut down
	started bool
	remove  func()
}

// Hooks are what a user does to the shared instance when its pipeline
// starts and stops. Either may be nil.
type Hooks struct {
	// Attach runs when the user starts, once the instance runs, with the
	// host of the user's pipeline (through which the user's own component
	// reports its status).
	Attach func(context.Context, component.Host) error
	// Detach runs when the user stops. For the last user it runs after
	// the instance was shut down, so that what the instance still handled
	// while stopping reaches that user; for the others, while the instance
	// keeps running for the rest. After Detach returns, the instance must
	// not call into the user's pipeline again.
	Detach func(context.Context) error
}

// User returns the component one pipeline starts and shuts down.
func (s *Shared[V]) User(h Hooks) *User[V] {
	return &User[V]{shared: s, hooks: h}
}

// User is one pipeline's handle on a Shared instance.
type User[V component.Component] struct {
	shared  *Shared[V]
	hooks   Hooks
	running bool
}

// Start starts the shared instance if no other user did, then attaches
// this user.
func (u *User[V]) Start(ctx context.Context, host component.Host) error {
	s := u.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if u.running {
		return nil
	}
	if !s.started {
		if err := s.Unwrapped.Start(ctx, host); err != nil {
			return err
		}
		s.started = true
	}
	if u.hooks.Attach != nil {
		if err := u.hooks.Attach(ctx, host); err != nil {
			if s.running == 0 {
				s.started = false
				_ = s.Unwrapped.Shutdown(ctx)
			}
			return err
		}
	}
	u.running = true
	s.running++
	return nil
}

// Shutdown detaches this user; the last user to stop shuts the shared
// instance down first. Shutting down a user that is not running (never
// started, or its Start failed) does nothing.
func (u *User[V]) Shutdown(ctx context.Context) error {
	s := u.shared
	s.mu.Lock()
	defer s.mu.Unlock()
	if !u.running {
		if s.running == 0 {
			s.remove()
		}
		return nil
	}
	u.running = false
	s.running--
	var err error
	if s.running == 0 {
		s.remove()
		s.started = false
		err = s.Unwrapped.Shutdown(ctx)
	}
	if u.hooks.Detach != nil {
		err = errors.Join(err, u.hooks.Detach(ctx))
	}
	return err
}
