package e2e

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/client"
	"github.com/vnfha/vnfha/checkpoint/marks"
	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
)

// serveProc is one `vnfha checkpoint serve` in a lab node.
type serveProc struct {
	node    string
	sock    string // as the test (the host) sees it
	pidFile string // inside the node
	done    chan error
	logs    *bytes.Buffer
}

// TestCheckpointServe runs `vnfha checkpoint serve` by hand (no agent) on
// two nodes of a real 3-node cluster, with the real marks in the CIB and
// the default replication key (corosync's authkey): node1 promoted, a
// writer through the Go client, node1's store killed (SIGKILL), node2
// promoted: node1 is marked stale before node2 acknowledges a write, and
// every write the client saw acknowledged is on node2; node1 restarted
// follows node2, catches up and is marked sync again; SIGTERM stops both
// and removes their sockets.
func TestCheckpointServe(t *testing.T) {
	l := labtest.Up(t, lab.Options{Nodes: 3, NoFencing: true})
	ctx := labtest.Context(t)
	peers := []string{}
	for _, n := range []string{"node1", "node2"} {
		a, err := l.Addr(n)
		if err != nil {
			t.Fatal(err)
		}
		peers = append(peers, fmt.Sprintf("%s=%s:7420", n, a))
	}
	// A pcs-made cluster has /etc/corosync/authkey, the same bytes on
	// every node (the store's default replication secret); the lab's
	// corosync runs without one, so it is written here.
	key := make([]byte, 256)
	rand.Read(key)
	for _, n := range []string{"node1", "node2"} {
		if err := os.WriteFile(filepath.Join(l.NodeDir(n), "etc-corosync", "authkey"), key, 0o400); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	start := func(node string) *serveProc {
		t.Helper()
		a, _ := l.Addr(node)
		p := &serveProc{node: node, sock: filepath.Join(l.NodeDir(node), "var-lib-vnfha", "cp.sock"),
			pidFile: "/var/lib/vnfha/cp.pid", done: make(chan error, 1), logs: &bytes.Buffer{}}
		// exec: the pid written is the server's, in the node's pid
		// namespace, for a kill by id.
		script := fmt.Sprintf("echo $$ > %s; exec %s checkpoint serve --data-dir /var/lib/vnfha/cp --resource cp --node %s "+
			"--socket /var/lib/vnfha/cp.sock --repl-listen %s:7420 --peers %s --sync-mode available --sync-timeout 500ms --log-level debug",
			p.pidFile, l.Binary(), node, a, strings.Join(peers, ","))
		cmd, err := l.Command(ctx, node, "sh", "-c", script)
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stdout, cmd.Stderr = lockedWriter{&mu, p.logs}, lockedWriter{&mu, p.logs}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			err := cmd.Wait()
			mu.Lock()
			fmt.Fprintf(p.logs, "(exit: %v)\n", err)
			mu.Unlock()
			p.done <- err
		}()
		t.Cleanup(func() {
			if t.Failed() {
				mu.Lock()
				t.Logf("%s's store:\n%s", node, p.logs)
				mu.Unlock()
			}
		})
		return p
	}
	signal := func(p *serveProc, sig string) {
		t.Helper()
		if out, err := l.Exec(ctx, p.node, "sh", "-c", "kill -"+sig+" $(cat "+p.pidFile+")"); err != nil {
			t.Fatalf("kill -%s on %s: %v %s", sig, p.node, err, out)
		}
	}
	waitExit := func(p *serveProc) error {
		t.Helper()
		select {
		case err := <-p.done:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("%s's store did not stop", p.node)
			return nil
		}
	}
	clientOf := func(socks ...string) *client.Client {
		var eps []string
		for _, s := range socks {
			eps = append(eps, "unix:"+s)
		}
		c, err := client.New(eps...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	status := func(p *serveProc, ok func(checkpoint.Status) bool, what string) {
		t.Helper()
		c := clientOf(p.sock)
		c.MaxAttempts = 1
		labtest.Eventually(t, 60*time.Second, 50*time.Millisecond, what, func() (bool, string) {
			st, err := c.Status(ctx)
			if err != nil {
				return false, err.Error()
			}
			return ok(st), fmt.Sprintf("%+v", st)
		})
	}
	mk, _ := marks.New(crmwrap.New(l.Runner("node3")), "cp")
	wantMarks := func(want map[string]string) {
		t.Helper()
		got, err := mk.All(ctx)
		if err != nil || !maps.Equal(got, want) {
			t.Fatalf("marks %v, %v; want %v", got, err, want)
		}
	}

	n1, n2 := start("node1"), start("node2")
	status(n1, func(st checkpoint.Status) bool { return st.Role == checkpoint.RoleStandby }, "node1's store up")
	status(n2, func(st checkpoint.Status) bool { return st.Role == checkpoint.RoleStandby }, "node2's store up")
	wantMarks(map[string]string{}) // a new store
	if _, err := clientOf(n1.sock).Promote(ctx, checkpoint.PromoteRequest{}); err != nil {
		t.Fatalf("promote node1: %v", err)
	}
	status(n1, func(st checkpoint.Status) bool {
		return st.Writable && len(st.Standbys) == 1 && st.Standbys[0].Sync
	}, "node2 in node1's synchronous set")
	wantMarks(map[string]string{"node1": "sync", "node2": "sync"})

	// A writer through both sockets: it rides out the failover below.
	c := clientOf(n1.sock, n2.sock)
	c.MaxAttempts = 200
	type acked struct {
		key string
		rev uint64
	}
	var (
		amu  sync.Mutex
		done []acked
	)
	stop := make(chan struct{})
	werr := make(chan error, 1)
	go func() {
		var last uint64
		for i := 0; ; i++ {
			select {
			case <-stop:
				werr <- nil
				return
			default:
			}
			key := fmt.Sprintf("seq/%06d", i)
			rev, err := c.Put(ctx, key, []byte(key), checkpoint.Cond{})
			if err != nil {
				werr <- fmt.Errorf("put %s: %w", key, err)
				return
			}
			if rev <= last {
				werr <- fmt.Errorf("put %s: revision %d after %d", key, rev, last)
				return
			}
			last = rev
			amu.Lock()
			done = append(done, acked{key, rev})
			amu.Unlock()
		}
	}()
	count := func() int { amu.Lock(); defer amu.Unlock(); return len(done) }
	waitWrites := func(n int) {
		t.Helper()
		labtest.Eventually(t, 60*time.Second, 20*time.Millisecond, fmt.Sprintf("%d acknowledged writes", n), func() (bool, string) {
			select {
			case err := <-werr:
				t.Fatalf("writer: %v", err)
			default:
			}
			return count() >= n, fmt.Sprintf("%d", count())
		})
	}
	waitWrites(200)
	signal(n1, "KILL")
	waitExit(n1)
	if _, err := clientOf(n2.sock).Promote(ctx, checkpoint.PromoteRequest{}); err != nil {
		t.Fatalf("promote node2: %v", err)
	}
	at := count()
	waitWrites(at + 200)
	wantMarks(map[string]string{"node1": "stale", "node2": "sync"})

	n1 = start("node1")
	status(n2, func(st checkpoint.Status) bool {
		return len(st.Standbys) == 1 && st.Standbys[0].Sync
	}, "node1 back in node2's synchronous set")
	wantMarks(map[string]string{"node1": "sync", "node2": "sync"})
	waitWrites(count() + 100)
	close(stop)
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	cl := clientOf(n2.sock)
	amu.Lock()
	for _, a := range done {
		it, _, err := cl.Get(ctx, a.key)
		if err != nil || string(it.Value) != a.key || it.Rev != a.rev {
			t.Fatalf("acknowledged %s at %d: %+v, %v", a.key, a.rev, it, err)
		}
	}
	t.Logf("%d acknowledged writes, all on the new primary", len(done))
	amu.Unlock()
	for _, p := range []*serveProc{n1, n2} {
		signal(p, "TERM")
		if err := waitExit(p); err != nil {
			t.Errorf("%s's store after SIGTERM: %v", p.node, err)
		}
		if _, err := os.Lstat(p.sock); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s's socket after SIGTERM: %v", p.node, err)
		}
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}
