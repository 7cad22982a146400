package ckptjepsen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// TestCheckpointSettled: the store behind the VIP is settled only as the
// primary Pacemaker promoted, writable, with enough sync standbys.
func TestCheckpointSettled(t *testing.T) {
	primary := func(standbys ...checkpoint.StandbyStatus) checkpoint.Status {
		return checkpoint.Status{Node: "node1", Role: checkpoint.RolePrimary, Writable: true, Standbys: standbys}
	}
	sync2 := primary(checkpoint.StandbyStatus{Node: "node2", Sync: true, Acked: 9}, checkpoint.StandbyStatus{Node: "node3", Sync: true, Acked: 9})
	unwritable := sync2
	unwritable.Writable, unwritable.Unwritable = false, "marking node3 stale"
	for _, tc := range []struct {
		name    string
		st      checkpoint.Status
		primary string
		want    int
		lacks   string // "" settled
	}{
		{"two sync standbys", sync2, "node1", 2, ""},
		{"one of two required", primary(checkpoint.StandbyStatus{Node: "node2", Sync: true}, checkpoint.StandbyStatus{Node: "node3", Acked: 4}),
			"node1", 2, "1 of 2 standbys"},
		{"one required (clone-max 2)", primary(checkpoint.StandbyStatus{Node: "node2", Sync: true}), "node1", 1, ""},
		{"no standby", primary(), "node1", 1, "0 of 1"},
		{"a standby behind the VIP", checkpoint.Status{Node: "node1", Role: checkpoint.RoleStandby}, "node1", 2, "is standby"},
		{"another node than Pacemaker's", sync2, "node2", 2, "promoted node2"},
		{"not writable", unwritable, "node1", 2, "marking node3 stale"},
		{"nothing at all", checkpoint.Status{}, "node1", 0, "promoted node1"},
	} {
		got := checkpointSettled(tc.st, tc.primary, tc.want)
		if (tc.lacks == "") != (got == "") || !strings.Contains(got, tc.lacks) {
			t.Errorf("%s: checkpointSettled = %q, want %q", tc.name, got, tc.lacks)
		}
	}
}

// TestCheckpointStatusHostile: a status that is not JSON, an error
// status, a server that closes mid-answer or hangs: Status fails, bounded
// by its context.
func TestCheckpointStatusHostile(t *testing.T) {
	block := make(chan struct{})
	defer close(block)
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		want    string
	}{
		{"not JSON", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("<html>")) }, "invalid character"},
		{"an error", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "busy", http.StatusServiceUnavailable) }, "503"},
		{"closed mid-answer", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.Write([]byte(`{"node":"no`))
			panic(http.ErrAbortHandler)
		}, "EOF"},
		{"hangs", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-block:
			case <-r.Context().Done():
			}
		}, "deadline exceeded"},
		{"a primary", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"node":"node1","role":"primary","writable":true,"standbys":[{"node":"node2","sync":true}]}`))
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			c := &Checkpoint{Base: srv.URL}
			defer c.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			st, err := c.Status(ctx)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("Status = %v", err)
			case tc.want == "":
				if got := checkpointSettled(st, "node1", 1); got != "" {
					t.Errorf("settled: %s", got)
				}
			case err == nil || !strings.Contains(err.Error(), tc.want):
				t.Errorf("Status = %+v, %v; want an error with %q", st, err, tc.want)
			}
		})
	}
}
