package main

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/vnfha/vnfha/checkpoint"
)

// memStore is a checkpoint store in memory; fail, when set, is the
// error every call returns.
type memStore struct {
	mu   sync.Mutex
	item *checkpoint.Item
	rev  uint64
	fail error
}

func (m *memStore) Get(_ context.Context, key string) (checkpoint.Item, uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return checkpoint.Item{}, 0, m.fail
	}
	if m.item == nil || m.item.Key != key {
		return checkpoint.Item{}, m.rev, checkpoint.ErrNotFound
	}
	return *m.item, m.rev, nil
}

func (m *memStore) Put(_ context.Context, key string, value []byte, _ checkpoint.Cond) (uint64, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	m.rev++
	m.item = &checkpoint.Item{Key: key, Value: value, Rev: m.rev}
	return m.rev, nil
}

func (m *memStore) set(f func(*memStore)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	f(m)
}

// TestState: the promoted instance saves each count before it answers,
// a store that fails costs the request (503) and not the count, and a
// new primary continues from what the store holds.
func TestState(t *testing.T) {
	st := &memStore{}
	do := func(h http.Handler, method, path string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
		return rec.Code, rec.Body.String()
	}
	a := handler("node1", st)
	steps := []struct {
		h          http.Handler
		method     string
		path       string
		before     func(*memStore)
		code       int
		body, item string // item: the stored count after the step
	}{
		{a, "GET", "/", nil, 200, "node1 unpromoted\n", ""}, // a standby writes nothing
		{a, "POST", "/role/promoted", nil, 200, "", ""},
		{a, "GET", "/", nil, 200, "node1 promoted rev=1\n", "1"},
		{a, "GET", "/", nil, 200, "node1 promoted rev=2\n", "2"},
		{a, "GET", "/", func(m *memStore) { m.fail = checkpoint.ErrClosed }, 503, "saving the state", "2"},
		{a, "GET", "/", func(m *memStore) { m.fail = nil }, 200, "node1 promoted rev=3\n", "3"},
		// Another instance, promoted: it restores 3, then saves 4.
		{handler("node2", st), "POST", "/role/promoted", nil, 200, "", "3"},
	}
	for i, s := range steps {
		if s.before != nil {
			st.set(s.before)
		}
		code, body := do(s.h, s.method, s.path)
		if code != s.code || !strings.Contains(body, s.body) {
			t.Fatalf("step %d: %s %s: %d %q, want %d %q", i, s.method, s.path, code, body, s.code, s.body)
		}
		if got := ""; st.item != nil {
			if got = string(st.item.Value); got != s.item {
				t.Fatalf("step %d: stored %q, want %q", i, got, s.item)
			}
		} else if s.item != "" {
			t.Fatalf("step %d: nothing stored, want %q", i, s.item)
		}
	}
	b := steps[len(steps)-1].h
	if code, body := do(b, "GET", "/"); code != 200 || body != "node2 promoted rev=4\n" || string(st.item.Value) != "4" {
		t.Fatalf("the new primary: %d %q, stored %q; want rev=4 and 4", code, body, st.item.Value)
	}
}

// TestStateRestoreRefused: a promote whose state cannot be read is
// refused (and the role unchanged), so that the agent's promote fails
// instead of a primary starting from zero.
func TestStateRestoreRefused(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   *memStore
	}{
		{"store down", &memStore{fail: errors.New("connection refused")}},
		{"not a count", &memStore{item: &checkpoint.Item{Key: stateKey, Value: []byte("x1")}, rev: 7}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := handler("node1", tc.st)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("POST", "/role/promoted", nil))
			if rec.Code != 503 {
				t.Fatalf("promote: %d %q, want 503", rec.Code, rec.Body)
			}
			rec = httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Body.String() != "node1 unpromoted\n" {
				t.Fatalf("after a refused promote: %q, want unpromoted", rec.Body)
			}
		})
	}
}

// TestStateFresh: a first primary with an empty store starts at 0.
func TestStateFresh(t *testing.T) {
	c := &counter{st: &memStore{}}
	if err := c.restore(context.Background()); err != nil || c.n != 0 {
		t.Fatalf("restore of an empty store: %d, %v", c.n, err)
	}
}
