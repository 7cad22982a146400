package checkpoint

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/vnfha/vnfha/checkpoint"
)

// fakeScript is what a test tells the fake store to do, in
// DATA_DIR/script.json, read at every request: our own seam, a store that
// can be made to refuse a promote, report problems or hang, where the real
// `vnfha checkpoint serve` (TestOCFTester, test/e2e) would need a whole
// cluster's history; never a stand-in for Pacemaker.
type fakeScript struct {
	Connected bool     `json:"connected"`
	Sync      bool     `json:"sync"`
	Problems  []string `json:"problems"`
	// Promote is "" (promote), "fresher" (409 naming FresherPeer at
	// FresherPos) or "stale" (409 without a peer).
	Promote     string `json:"promote"`
	FresherPeer string `json:"fresher_peer"`
	FresherPos  string `json:"fresher_pos"`
	// Mute makes every request hang until the client gives up.
	Mute bool `json:"mute"`
	// ExitOnPromote ends the store on a promote, with status 3.
	ExitOnPromote bool `json:"exit_on_promote"`
}

// fakeState is what the fake store keeps across requests and restarts,
// in DATA_DIR/state.json.
type fakeState struct {
	Role     checkpoint.Role     `json:"role"`
	Epoch    uint64              `json:"epoch"`
	Position checkpoint.Position `json:"position"`
	Followed []string            `json:"followed,omitempty"`
	MinEpoch []uint64            `json:"min_epoch,omitempty"`
	Absent   [][]string          `json:"absent,omitempty"` // each promote's
}

// fakeServe is the fake `vnfha checkpoint serve`: it takes the flags the
// real one takes (task13-api.md), refuses any other, and serves /v1/status
// and /v1/control/* on --socket.
func fakeServe(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	str := map[string]*string{}
	for _, n := range []string{"data-dir", "node", "resource", "socket", "socket-mode", "socket-group", "api-listen",
		"api-token-file", "repl-listen", "peers", "key-file", "tls-cert", "tls-key", "tls-ca", "sync-replicas",
		"sync-mode", "sync-timeout", "max-value", "log-level"} {
		str[n] = fs.String(n, "", "")
	}
	if err := fs.Parse(args); err != nil || fs.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "fake store: bad flags:", err, fs.Args())
		return 2
	}
	dir, sock := *str["data-dir"], *str["socket"]
	if dir == "" || sock == "" {
		fmt.Fprintln(os.Stderr, "fake store: --data-dir and --socket are required")
		return 2
	}
	b, _ := json.Marshal(args)
	_ = os.WriteFile(filepath.Join(dir, "argv.json"), b, 0o600)
	mode, err := strconv.ParseUint(*str["socket-mode"], 8, 32)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake store: bad --socket-mode")
		return 2
	}
	_ = os.Remove(sock)
	ln, err := net.Listen("unix", sock)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake store:", err)
		return 1
	}
	_ = os.Chmod(sock, os.FileMode(mode))
	f := &fakeStore{dir: dir, node: *str["node"], mode: *str["sync-mode"]}
	srv := &http.Server{Handler: f}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM)
	go func() {
		<-sigs
		_ = srv.Shutdown(context.Background())
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "fake store:", err)
		return 1
	}
	_ = os.Remove(sock)
	return 0
}

type fakeStore struct {
	mu        sync.Mutex
	dir, node string
	mode      string
}

func (f *fakeStore) script() fakeScript {
	var s fakeScript
	if b, err := os.ReadFile(filepath.Join(f.dir, "script.json")); err == nil {
		_ = json.Unmarshal(b, &s)
	}
	return s
}

func (f *fakeStore) state() fakeState {
	st := fakeState{Role: checkpoint.RoleStandby}
	if b, err := os.ReadFile(filepath.Join(f.dir, "state.json")); err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

func (f *fakeStore) save(st fakeState) {
	b, _ := json.Marshal(st)
	_ = os.WriteFile(filepath.Join(f.dir, "state.json"), b, 0o600)
}

func (f *fakeStore) status(st fakeState, s fakeScript) checkpoint.Status {
	out := checkpoint.Status{Node: f.node, Role: st.Role, Epoch: st.Epoch, Position: st.Position,
		SyncMode: f.mode, SyncReplicas: 1, Problems: s.Problems}
	if st.Role == checkpoint.RolePrimary {
		out.Primary, out.Writable = f.node, true
	} else {
		out.Connected, out.Sync, out.CaughtUp = s.Connected, s.Sync, s.Sync
	}
	return out
}

func (f *fakeStore) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.script()
	if s.Mute {
		<-r.Context().Done()
		return
	}
	st := f.state()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/status":
		writeJSON(w, http.StatusOK, f.status(st, s))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/control/promote":
		var req checkpoint.PromoteRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]any{"title": "bad request", "status": 400, "detail": err.Error()})
			return
		}
		st.MinEpoch = append(st.MinEpoch, req.MinEpoch)
		st.Absent = append(st.Absent, req.Absent)
		f.save(st)
		if s.ExitOnPromote {
			os.Exit(3)
		}
		switch s.Promote {
		case "fresher":
			pos, _ := checkpoint.ParsePosition(s.FresherPos)
			e := &checkpoint.FresherPeerError{Peer: s.FresherPeer, Position: pos, Own: st.Position}
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]any{"type": "about:blank", "title": "a fresher peer", "status": 409, "detail": e.Error()})
			return
		case "stale":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusConflict)
			_ = json.NewEncoder(w).Encode(map[string]any{"title": "stale", "status": 409, "detail": (&checkpoint.StaleError{Reason: "marked stale"}).Error()})
			return
		}
		if st.Role != checkpoint.RolePrimary {
			st.Role = checkpoint.RolePrimary
			st.Epoch = max(st.Epoch, req.MinEpoch) + 1
			st.Position = checkpoint.Position{Epoch: st.Epoch, Rev: st.Position.Rev + 1}
		}
		f.save(st)
		writeJSON(w, http.StatusOK, f.status(st, s))
	case r.Method == http.MethodPost && r.URL.Path == "/v1/control/demote":
		st.Role = checkpoint.RoleStandby
		f.save(st)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/control/follow":
		var req struct {
			Node string `json:"node"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Node == "" {
			writeJSON(w, http.StatusBadRequest, map[string]any{"title": "bad request", "status": 400})
			return
		}
		st.Followed = append(st.Followed, req.Node)
		f.save(st)
		w.WriteHeader(http.StatusNoContent)
	default:
		writeJSON(w, http.StatusNotFound, map[string]any{"title": "not found", "status": 404, "detail": strings.TrimSpace(r.URL.Path)})
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	if code >= 400 {
		w.Header().Set("Content-Type", "application/problem+json")
	} else {
		w.Header().Set("Content-Type", "application/json")
	}
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}
