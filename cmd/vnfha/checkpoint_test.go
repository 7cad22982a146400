package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/client"
)

// TestCheckpointServeFlags: every bad value is refused before anything
// starts, named by its flag.
func TestCheckpointServeFlags(t *testing.T) {
	dir := t.TempDir()
	base := []string{"checkpoint", "serve", "--data-dir", dir}
	with := func(a ...string) []string { return append(append([]string{}, base...), a...) }
	for _, tc := range []cliCase{
		{"no command", []string{"checkpoint"}, exitUsage, []string{"missing command"}, nil, nil},
		{"unknown command", []string{"checkpoint", "srve"}, exitUsage, []string{`unknown command "srve"`}, nil, nil},
		{"help", []string{"checkpoint", "serve", "--help"}, exitOK, nil, []string{"--data-dir", "--peers", "--sync-mode", "--socket-mode"}, nil},
		{"no data dir", []string{"checkpoint", "serve"}, exitUsage, []string{"--data-dir is required"}, nil, nil},
		{"argument", with("x"), exitUsage, []string{`unexpected argument "x"`}, nil, nil},
		{"bad node", with("--node", "a b"), exitUsage, []string{"--node"}, nil, nil},
		{"bad resource", with("--resource", "a/b"), exitUsage, []string{"--resource"}, nil, nil},
		{"relative socket", with("--socket", "x.sock"), exitUsage, []string{"--socket"}, nil, nil},
		{"long socket", with("--socket", "/"+strings.Repeat("s", 200)), exitUsage, []string{"--socket"}, nil, nil},
		{"bad mode", with("--socket-mode", "0999"), exitUsage, []string{"--socket-mode"}, nil, nil},
		{"mode locks the owner out", with("--socket-mode", "0060"), exitUsage, []string{"--socket-mode"}, nil, nil},
		{"bad api listen", with("--api-listen", "7421"), exitUsage, []string{"--api-listen"}, nil, nil},
		{"token without tcp", with("--api-token-file", "/x"), exitUsage, []string{"--api-listen too"}, nil, nil},
		{"bad repl listen", with("--repl-listen", "x"), exitUsage, []string{"--repl-listen"}, nil, nil},
		{"bad peers", with("--peers", "node1"), exitUsage, []string{"--peers", "node=host:port"}, nil, nil},
		{"bad peer port", with("--peers", "node1=h:99999", "--resource", "cp"), exitUsage, []string{"bad port"}, nil, nil},
		{"duplicate peer", with("--peers", "n1=h:1,n1=h:2", "--resource", "cp"), exitUsage, []string{"given twice"}, nil, nil},
		{"peers without resource", with("--peers", "node1=h:7420,node2=h2:7420", "--node", "node1"), exitUsage, []string{"--resource is required"}, nil, nil},
		{"half tls", with("--tls-cert", "c.pem"), exitUsage, []string{"go together"}, nil, nil},
		{"tls and key", with("--tls-cert", "c", "--tls-key", "k", "--tls-ca", "a", "--key-file", "/k"), exitUsage, []string{"choose one"}, nil, nil},
		{"bad sync mode", with("--sync-mode", "async"), exitUsage, []string{"--sync-mode"}, nil, nil},
		{"zero sync replicas", with("--sync-replicas", "0", "--sync-mode", "available"), exitUsage, []string{"--sync-replicas"}, nil, nil},
		{"strict too few peers", with("--node", "n1", "--resource", "cp", "--peers", "n1=h:1,n2=h:2", "--sync-replicas", "2"), exitUsage, []string{"strict mode could never write"}, nil, nil},
		{"bad sync timeout", with("--sync-timeout", "2h", "--sync-mode", "available"), exitUsage, []string{"--sync-timeout"}, nil, nil},
		{"bad max value", with("--max-value", "1GiB", "--sync-mode", "available"), exitUsage, []string{"--max-value"}, nil, nil},
		{"bad log level", with("--log-level", "loud", "--sync-mode", "available"), exitUsage, []string{"--log-level"}, nil, nil},
		{"status no socket", []string{"checkpoint", "status", "--socket", filepath.Join(dir, "none.sock")}, exitError, []string{"none.sock"}, nil, nil},
	} {
		t.Run(tc.name, func(t *testing.T) { checkCLI(t, tc) })
	}
	for in, want := range map[string]int64{"1MiB": 1 << 20, "64KiB": 64 << 10, "100": 100, "2M": 2 << 20, "7B": 7} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v", in, got, err)
		}
	}
}

// TestMain lets the serve test run this test binary as vnfha.
func TestMain(m *testing.M) {
	if args := os.Getenv("VNFHA_TEST_RUN_CLI"); args != "" {
		c := cli{stdin: os.Stdin, stdout: os.Stdout, stderr: os.Stderr}
		os.Exit(c.run(strings.Split(args, "\x1f")))
	}
	os.Exit(m.Run())
}

// startServe runs `vnfha checkpoint serve` (this test binary) with args.
func startServe(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "VNFHA_TEST_RUN_CLI="+strings.Join(append([]string{"checkpoint", "serve"}, args...), "\x1f"))
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, &logs
}

// TestCheckpointServe runs a single replica (no peers, available mode)
// with the real store, replica and API: it starts as a standby, is
// promoted over its socket, takes writes, stops on SIGTERM (socket
// removed) and finds its writes again when restarted; a second server on
// the same data dir is refused.
func TestCheckpointServe(t *testing.T) {
	dir, err := os.MkdirTemp("", "cpserve")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "cp.sock")
	key := filepath.Join(dir, "authkey")
	os.WriteFile(key, bytes.Repeat([]byte("k"), 128), 0o600)
	args := []string{"--data-dir", filepath.Join(dir, "data"), "--node", "node1", "--socket", sock, "--key-file", key,
		"--repl-listen", "127.0.0.1:0", "--sync-mode", "available", "--max-value", "1KiB"}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.New("unix:" + sock)
	if err != nil {
		t.Fatal(err)
	}
	cl.MinBackoff, cl.MaxBackoff = 5*time.Millisecond, 50*time.Millisecond
	up := func(logs *bytes.Buffer) {
		t.Helper()
		for i := 0; ; i++ {
			if _, err := cl.Status(ctx); err == nil {
				return
			}
			if i == 400 {
				t.Fatalf("the server did not come up:\n%s", logs)
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	cmd, logs := startServe(t, args...)
	up(logs)
	st, _ := cl.Status(ctx)
	if st.Role != checkpoint.RoleStandby || st.Node != "node1" {
		t.Fatalf("status at start %+v", st)
	}
	if fi, err := os.Lstat(sock); err != nil || fi.Mode().Perm() != 0o660 {
		t.Errorf("socket %v, %v; want mode 0660", fi, err)
	}
	cl.MaxAttempts = 2
	var np *checkpoint.NotPrimaryError
	if _, err := cl.Put(ctx, "a", []byte("1"), checkpoint.Cond{}); !errors.As(err, &np) {
		t.Errorf("a write to the standby: %v", err)
	}
	cl.MaxAttempts = 0
	if st, err := cl.Promote(ctx, checkpoint.PromoteRequest{}); err != nil || st.Role != checkpoint.RolePrimary {
		t.Fatalf("promote: %+v, %v\n%s", st, err, logs)
	}
	rev, err := cl.Put(ctx, "calls/42", []byte("state"), checkpoint.Cond{})
	if err != nil {
		t.Fatalf("put: %v\n%s", err, logs)
	}
	var big *checkpoint.TooLargeError
	if _, err := cl.Put(ctx, "big", make([]byte, 1025), checkpoint.Cond{}); !errors.As(err, &big) {
		t.Errorf("over --max-value: %v", err)
	}
	// A second server on the same directory.
	second, slogs := startServe(t, append(args[:len(args):len(args)], "--socket", filepath.Join(dir, "other.sock"))...)
	if err := second.Wait(); err == nil {
		t.Errorf("a second server on the same data dir ran:\n%s", slogs)
	}
	// SIGTERM: a clean stop.
	cmd.Process.Signal(syscall.SIGTERM)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("stop: %v\n%s", err, logs)
	}
	if _, err := os.Lstat(sock); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("socket left after the stop: %v", err)
	}
	if !strings.Contains(logs.String(), "stopped") {
		t.Errorf("logs:\n%s", logs)
	}
	// Restarted: the write is there (a standby serves its applied state).
	_, logs = startServe(t, args...)
	up(logs)
	it, _, err := cl.Get(ctx, "calls/42")
	if err != nil || string(it.Value) != "state" || it.Rev != rev {
		t.Errorf("after a restart: %+v, %v", it, err)
	}
	code, out, _ := runCLI(t, "checkpoint", "status", "--socket", sock)
	if code != exitOK || !strings.Contains(out, "role:      standby") || !strings.Contains(out, "node:      node1") {
		t.Errorf("status: %d\n%s", code, out)
	}
}

// TestCheckpointServeConfig: what the agent passes is accepted: peers
// separated by spaces (its own node among them), strict mode on a lone
// replica (it starts; writes are refused), a key file that is missing
// when there is nobody to replicate with.
func TestCheckpointServeConfig(t *testing.T) {
	var out, errb bytes.Buffer
	c := cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb}
	sc, code, ok := c.parseServeFlags([]string{"--data-dir", "/d", "--node", "node1", "--resource", "cp",
		"--peers", "node1=198.18.0.1:7420 node2=198.18.0.2:7420\tnode3=[2001:2::3]:7420", "--max-value", "64KiB"})
	if !ok || code != exitOK || len(sc.peers) != 3 || sc.others != 2 || sc.peers["node3"] != "[2001:2::3]:7420" || sc.maxValue != 64<<10 {
		t.Fatalf("%+v %d %v: %s", sc, code, ok, errb.String())
	}
	if sc.socket != "/run/vnfha/checkpoint/cp.sock" || sc.socketMode != 0o660 || sc.syncMode != checkpoint.SyncStrict {
		t.Errorf("defaults: %+v", sc)
	}
	if api := sc.primaryAPI(); api != nil {
		t.Errorf("a primary API without --api-listen")
	}
	sc.apiListen = "0.0.0.0:7421"
	if got := sc.primaryAPI()("node3"); got != "http://[2001:2::3]:7421" {
		t.Errorf("node3's API %q", got)
	}
	lone, _, ok := c.parseServeFlags([]string{"--data-dir", "/d", "--key-file", "/nonexistent/key"})
	if !ok {
		t.Fatalf("a lone strict replica: %s", errb.String())
	}
	if a, err := lone.replicationAuth(); err != nil || len(a.Key) == 0 {
		t.Errorf("a lone replica without its key file: %v", err)
	}
	sc.keyFile = "/nonexistent/key"
	if _, err := sc.replicationAuth(); err == nil {
		t.Error("a replica with peers ran without its key file")
	}
}
