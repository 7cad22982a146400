package ckptjepsen

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/vnfha/vnfha/checkpoint"
)

// apiServer serves the part of the checkpoint API (docs/checkpoint.md)
// Checkpoint uses, from memory, pages of 2 items: the client's own test,
// until the real serve command runs in the lab (the e2e test).
func apiServer(t *testing.T, role checkpoint.Role) (*httptest.Server, *memStore) {
	s := &memStore{items: map[string]Item{}}
	var mu sync.Mutex
	h := http.NewServeMux()
	h.HandleFunc("PUT /v1/checkpoints/{key...}", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		rev, _ := s.Put(r.Context(), r.PathValue("key"), b)
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(map[string]any{"key": r.PathValue("key"), "revision": rev})
	})
	h.HandleFunc("GET /v1/status", func(w http.ResponseWriter, r *http.Request) {
		json.NewEncoder(w).Encode(checkpoint.Status{Node: "node1", Role: role})
	})
	h.HandleFunc("GET /v1/checkpoints", func(w http.ResponseWriter, r *http.Request) {
		items, rev, _ := s.ReadAll(r.Context())
		sort.Slice(items, func(i, j int) bool { return items[i].Key < items[j].Key })
		after := r.URL.Query().Get("after")
		var page []checkpoint.Item
		more := false
		for _, it := range items {
			if it.Key <= after {
				continue
			}
			if len(page) == 2 {
				more = true
				break
			}
			page = append(page, checkpoint.Item{Key: it.Key, Value: it.Value, Rev: uint64(it.Revision)})
		}
		json.NewEncoder(w).Encode(map[string]any{"revision": rev, "items": page, "more": more})
	})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, s
}

// TestCheckpointStore: puts get their revisions, keys with slashes go
// in the path, ReadAll pages through everything, on the primary only.
func TestCheckpointStore(t *testing.T) {
	srv, _ := apiServer(t, checkpoint.RolePrimary)
	c := &Checkpoint{Base: srv.URL, Token: "tok"}
	defer c.Close()
	ctx := context.Background()
	for i := 1; i <= 5; i++ {
		rev, err := c.Put(ctx, Key(1, i), Value(1, i, 10))
		if err != nil || rev != int64(i) {
			t.Fatalf("Put %d = %d, %v", i, rev, err)
		}
	}
	items, rev, err := c.ReadAll(ctx)
	if err != nil || rev != 5 || len(items) != 5 {
		t.Fatalf("ReadAll = %d items, rev %d, %v", len(items), rev, err)
	}
	for i, it := range items {
		if it.Key != Key(1, i+1) || string(it.Value) != string(Value(1, i+1, 10)) || it.Revision != int64(i+1) {
			t.Errorf("item %d = %+v", i, it)
		}
	}
	bad := &Checkpoint{Base: srv.URL}
	if _, err := bad.Put(ctx, "k", nil); err == nil || !strings.Contains(err.Error(), strconv.Itoa(http.StatusUnauthorized)) {
		t.Errorf("Put without the token = %v", err)
	}

	standby, _ := apiServer(t, checkpoint.RoleStandby)
	if _, _, err := (&Checkpoint{Base: standby.URL}).ReadAll(ctx); err == nil || !strings.Contains(err.Error(), "not the primary") {
		t.Errorf("ReadAll on a standby = %v", err)
	}
}
