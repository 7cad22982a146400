package replica

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"

	"github.com/vnfha/vnfha/checkpoint"
)

// memStore is an in-memory Store: a seam for the replica's unit tests
// only, with a way to make appends fail. The final tests run against
// checkpoint/store (newTestStore).
type memStore struct {
	mu      sync.Mutex
	entries []checkpoint.Entry // all of them (no compaction unless retain > 0)
	retain  int
	dropped uint64 // revisions before this one are gone
	epoch   uint64
	items   map[string]checkpoint.Item
	pos     checkpoint.Position
	starts  map[uint64]uint64
	changed chan struct{}
	failErr error // Append fails with it while set
}

func newMemStore() *memStore {
	return &memStore{items: map[string]checkpoint.Item{}, starts: map[uint64]uint64{}, changed: make(chan struct{}), dropped: 1}
}

func (m *memStore) Close() error { return nil }

func (m *memStore) Position() checkpoint.Position {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pos
}

func (m *memStore) Epoch() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.epoch
}

func (m *memStore) SetEpoch(e uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e < m.epoch {
		return fmt.Errorf("epoch %d under %d", e, m.epoch)
	}
	m.epoch = e
	return nil
}

func (m *memStore) EpochStart(e uint64) (uint64, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	r, ok := m.starts[e]
	return r, ok
}

func (m *memStore) Append(es []checkpoint.Entry) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failErr != nil {
		return m.failErr
	}
	if len(es) == 0 {
		return nil
	}
	next, ep := m.pos.Rev+1, m.pos.Epoch
	for _, e := range es {
		if e.Rev != next || e.Epoch < ep || e.Epoch > m.epoch {
			return fmt.Errorf("memstore: entry %d/%d after %s (epoch %d)", e.Rev, e.Epoch, m.pos, m.epoch)
		}
		next++
		ep = e.Epoch
	}
	for _, e := range es {
		e.Value = append([]byte(nil), e.Value...)
		m.apply(e)
	}
	close(m.changed)
	m.changed = make(chan struct{})
	return nil
}

func (m *memStore) apply(e checkpoint.Entry) {
	if _, ok := m.starts[e.Epoch]; !ok {
		m.starts[e.Epoch] = e.Rev
	}
	switch e.Op {
	case checkpoint.OpPut:
		it, ok := m.items[e.Key]
		created := e.Rev
		if ok {
			created = it.Created
		}
		m.items[e.Key] = checkpoint.Item{Key: e.Key, Value: e.Value, Rev: e.Rev, Created: created}
	case checkpoint.OpDelete:
		delete(m.items, e.Key)
	}
	m.entries = append(m.entries, e)
	m.pos = e.Position()
	if m.retain > 0 && len(m.entries) > m.retain {
		n := len(m.entries) - m.retain
		m.entries = append([]checkpoint.Entry(nil), m.entries[n:]...)
		m.dropped = m.entries[0].Rev
	}
}

func (m *memStore) Get(key string) (checkpoint.Item, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	it, ok := m.items[key]
	if !ok {
		return checkpoint.Item{}, m.pos.Rev, checkpoint.ErrNotFound
	}
	return it, m.pos.Rev, nil
}

func (m *memStore) List(prefix, after string, limit int) ([]checkpoint.Item, uint64, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var keys []string
	for k := range m.items {
		if strings.HasPrefix(k, prefix) && k > after {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	more := false
	if limit > 0 && len(keys) > limit {
		keys, more = keys[:limit], true
	}
	var out []checkpoint.Item
	for _, k := range keys {
		out = append(out, m.items[k])
	}
	return out, m.pos.Rev, more, nil
}

func (m *memStore) Oldest() uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.entries) == 0 {
		return m.pos.Rev + 1
	}
	return m.entries[0].Rev
}

func (m *memStore) Entries(from uint64, max int, maxBytes int64) ([]checkpoint.Entry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	oldest := m.pos.Rev + 1
	if len(m.entries) > 0 {
		oldest = m.entries[0].Rev
	}
	if from+1 < oldest {
		return nil, &checkpoint.CompactedError{From: from, Oldest: oldest}
	}
	var out []checkpoint.Entry
	var size int64
	for _, e := range m.entries {
		if e.Rev <= from {
			continue
		}
		size += int64(len(e.Value) + len(e.Key))
		if len(out) > 0 && (len(out) >= max || size > maxBytes) {
			break
		}
		out = append(out, e)
	}
	return out, nil
}

func (m *memStore) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

type memSnap struct {
	Epoch   uint64
	Pos     checkpoint.Position
	Items   map[string]checkpoint.Item
	Starts  map[uint64]uint64
	Entries []checkpoint.Entry
	End     string
}

func (m *memStore) Snapshot(w io.Writer) (checkpoint.Position, error) {
	m.mu.Lock()
	s := memSnap{Epoch: m.epoch, Pos: m.pos, Items: m.items, Starts: m.starts, Entries: m.entries, End: "end"}
	b, err := json.Marshal(s)
	m.mu.Unlock()
	if err != nil {
		return checkpoint.Position{}, err
	}
	_, err = w.Write(b)
	return s.Pos, err
}

func (m *memStore) Restore(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	var s memSnap
	if err := json.Unmarshal(b, &s); err != nil || s.End != "end" {
		return fmt.Errorf("memstore: bad snapshot: %v", err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.epoch, m.pos, m.items, m.starts, m.entries = s.Epoch, s.Pos, s.Items, s.Starts, s.Entries
	if m.items == nil {
		m.items = map[string]checkpoint.Item{}
	}
	if m.starts == nil {
		m.starts = map[uint64]uint64{}
	}
	close(m.changed)
	m.changed = make(chan struct{})
	return nil
}

func (m *memStore) Problems() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.failErr != nil && !errors.Is(m.failErr, checkpoint.ErrNoSpace) {
		return []string{m.failErr.Error()}
	}
	return nil
}
