// Package sharedcomponent lets the traces and metrics pipelines of one
// component ID share a single running instance (one probe set), the way the
// collector's own receivers do.
package sharedcomponent

import (
	"context"
	"sync"

	"go.opentelemetry.io/collector/component"
)

// Map keeps one Component per key.
type Map[K comparable, V component.Component] struct {
	mu         sync.Mutex
	components map[K]*Component[V]
}

// NewMap returns an empty Map.
func NewMap[K comparable, V component.Component]() *Map[K, V] {
	return &Map[K, V]{components: map[K]*Component[V]{}}
}

// LoadOrStore returns the component for key, creating it with create when
// absent.
func (m *Map[K, V]) LoadOrStore(key K, create func() (V, error)) (*Component[V], error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if c, ok := m.components[key]; ok {
		return c, nil
	}
	v, err := create()
	if err != nil {
		return nil, err
	}
	c := &Component[V]{Unwrapped: v}
	c.remove = func() {
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.components, key)
	}
	m.components[key] = c
	return c, nil
}

// Component starts its wrapped component once, however many pipelines start
// it, and shuts it down once, when the last one does.
type Component[V component.Component] struct {
	Unwrapped V

	mu      sync.Mutex
	refs    int
	started bool
	remove  func()
}

// Start starts the wrapped component on the first call.
func (c *Component[V]) Start(ctx context.Context, host component.Host) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.refs++
	if c.started {
		return nil
	}
	if err := c.Unwrapped.Start(ctx, host); err != nil {
		c.refs--
		return err
	}
	c.started = true
	return nil
}

// Shutdown shuts the wrapped component down when the last user does.
func (c *Component[V]) Shutdown(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refs > 0 {
		c.refs--
	}
	if c.refs > 0 {
		return nil
	}
	c.remove()
	if !c.started {
		return nil
	}
	c.started = false
	return c.Unwrapped.Shutdown(ctx)
}
