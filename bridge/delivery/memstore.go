package delivery

import (
	"context"
	"slices"
	"strings"
	"sync"
)

// MemStore is a Store in memory: what it holds ends with the process.
type MemStore struct {
	mu      sync.Mutex
	pending map[string]*Pending
	order   []string
	seen    map[string]bool // sink + id
}

// NewMemStore returns an empty MemStore.
func NewMemStore() *MemStore {
	return &MemStore{pending: map[string]*Pending{}, seen: map[string]bool{}}
}

// Pending implements Store, in the order the events were added.
func (m *MemStore) Pending(context.Context) ([]Pending, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Pending
	for _, id := range m.order {
		if p, ok := m.pending[id]; ok {
			out = append(out, Pending{Event: p.Event, Sinks: append([]string(nil), p.Sinks...)})
		}
	}
	return out, nil
}

// Add implements Store.
func (m *MemStore) Add(_ context.Context, e Event, sinks []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[e.ID]
	if !ok {
		p = &Pending{Event: e}
		m.pending[e.ID] = p
		m.order = append(m.order, e.ID)
	}
	for _, s := range sinks {
		if !slices.Contains(p.Sinks, s) {
			p.Sinks = append(p.Sinks, s)
		}
	}
	return nil
}

// Done implements Store.
func (m *MemStore) Done(_ context.Context, id, sink string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	p, ok := m.pending[id]
	if !ok || !slices.Contains(p.Sinks, sink) {
		return nil
	}
	m.seen[key(sink, id)] = true
	var left []string
	for _, s := range p.Sinks {
		if s != sink {
			left = append(left, s)
		}
	}
	p.Sinks = left
	if len(left) == 0 {
		delete(m.pending, id)
		for i, o := range m.order {
			if o == id {
				m.order = append(m.order[:i], m.order[i+1:]...)
				break
			}
		}
	}
	return nil
}

// Seen implements Store.
func (m *MemStore) Seen(_ context.Context, id, sink string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.seen[key(sink, id)], nil
}

// Prune deletes the entries no sink is owed whose id live says is gone,
// as the bridge's store in the cluster does.
func (m *MemStore) Prune(_ context.Context, live func(id string) bool) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for k := range m.seen {
		_, id, _ := strings.Cut(k, "\x00")
		if _, owed := m.pending[id]; owed || live(id) {
			continue
		}
		delete(m.seen, k)
		n++
	}
	return n, nil
}
