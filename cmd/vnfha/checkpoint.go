package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/checkpoint/api"
	"github.com/vnfha/vnfha/checkpoint/client"
	"github.com/vnfha/vnfha/checkpoint/marks"
	"github.com/vnfha/vnfha/checkpoint/replica"
	"github.com/vnfha/vnfha/checkpoint/replica/wire"
	"github.com/vnfha/vnfha/checkpoint/store"
	"github.com/vnfha/vnfha/crmwrap"
)

// Defaults of `vnfha checkpoint serve`.
const (
	DefaultSocketDir  = "/run/vnfha/checkpoint"
	DefaultReplListen = ":7420"
	DefaultKeyFile    = "/etc/corosync/authkey"
)

// runCheckpoint is `vnfha checkpoint serve|status`.
func (c cli) runCheckpoint(args []string) int {
	cmd, _ := findCommand("checkpoint")
	if len(args) == 0 {
		return c.commandUsageErr(cmd, "missing command: serve or status")
	}
	switch args[0] {
	case "serve":
		return c.runCheckpointServe(args[1:])
	case "status":
		return c.runCheckpointStatus(args[1:])
	case "-h", "--help", "help":
		fmt.Fprintf(c.stdout, "Usage: %s\n\n%s.\n\nCommands:\n  serve   run this node's replica (its flags: vnfha checkpoint serve --help)\n  status  print a replica's status, asked over its socket\n",
			cmd.usageLine(), upperFirst(cmd.summary))
		return exitOK
	}
	return c.commandUsageErr(cmd, "unknown command %s: serve or status", quote(args[0]))
}

// serveConfig is what `vnfha checkpoint serve`'s flags say, checked.
type serveConfig struct {
	dataDir, node, resource string
	socket                  string
	socketMode              os.FileMode
	socketGroup             string
	apiListen, apiTokenFile string
	replListen              string
	peers                   map[string]string
	keyFile                 string
	keyFileSet              bool
	tlsCert, tlsKey, tlsCA  string
	syncReplicas            int
	syncMode                string
	syncTimeout             time.Duration
	maxValue                int64
	logLevel                logrus.Level
	logJSON                 bool
	others                  int // peers other than this node
}

func serveCommand() command {
	return command{name: "checkpoint serve", args: "--data-dir DIR [flags]",
		summary: "run this node's replica of the checkpoint store: its client API on a unix socket (and TCP), replication with its peers (docs/checkpoint.md)"}
}

// parseServeFlags reads and checks the flags; a bad value is said with
// its flag's name.
func (c cli) parseServeFlags(args []string) (serveConfig, int, bool) {
	cmd := serveCommand()
	fs := newFlagSet(cmd)
	dataDir := fs.String("data-dir", "", "the replica's directory (required; the store locks it)")
	node := fs.String("node", "", "this node's name, as the cluster and the peers know it (default: the host name)")
	resource := fs.String("resource", "", "the checkpoint resource's id, for its marks in the CIB (empty: marks off, allowed only with no --peers)")
	socket := fs.String("socket", "", "the client API's unix socket (default "+DefaultSocketDir+"/<resource>.sock)")
	socketMode := fs.String("socket-mode", "0660", "the socket's permissions (octal): who may connect may write and promote")
	socketGroup := fs.String("socket-group", "", "the socket's group, a name or a gid (default: the process's)")
	apiListen := fs.String("api-listen", "", "also serve the client API on this TCP host:port (never the control endpoints)")
	apiToken := fs.String("api-token-file", "", "a file holding the bearer token the TCP API requires")
	replListen := fs.String("repl-listen", DefaultReplListen, "the replication listen address")
	peers := fs.String("peers", "", "every replica's node and replication address: node1=198.18.0.1:7420,node2=...")
	keyFile := fs.String("key-file", DefaultKeyFile, "the shared secret that authenticates replication (every node has the same bytes)")
	tlsCert := fs.String("tls-cert", "", "mutual TLS for replication instead of the key: this replica's certificate (PEM)")
	tlsKey := fs.String("tls-key", "", "its private key (PEM)")
	tlsCA := fs.String("tls-ca", "", "the CA that signs every replica's certificate (PEM)")
	syncReplicas := fs.Int("sync-replicas", checkpoint.DefaultSyncCount, "standbys that must hold a write before it is acknowledged")
	syncMode := fs.String("sync-mode", checkpoint.SyncStrict, "with fewer standbys in the synchronous set: strict refuses writes, available goes on after marking the others stale")
	syncTimeout := fs.Duration("sync-timeout", time.Second, "how long a synchronous standby may take to acknowledge before it is marked stale and dropped")
	maxValue := fs.String("max-value", "1MiB", "the largest value a write may carry (bytes, or with KiB/MiB)")
	logLevel := fs.String("log-level", "info", "debug, info, warning or error")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if code, ok := c.parseFlags(cmd, fs, args); !ok {
		return serveConfig{}, code, false
	}
	bad := func(format string, a ...any) (serveConfig, int, bool) {
		return serveConfig{}, c.commandUsageErr(cmd, format, a...), false
	}
	if fs.NArg() > 0 {
		return bad("unexpected argument %s", quote(fs.Arg(0)))
	}
	sc := serveConfig{dataDir: *dataDir, node: *node, resource: *resource, socket: *socket, socketGroup: *socketGroup,
		apiListen: *apiListen, apiTokenFile: *apiToken, replListen: *replListen, keyFile: *keyFile, keyFileSet: fs.Changed("key-file"),
		tlsCert: *tlsCert, tlsKey: *tlsKey, tlsCA: *tlsCA, syncReplicas: *syncReplicas, syncMode: *syncMode, syncTimeout: *syncTimeout, logJSON: *logJSON}
	if sc.dataDir == "" {
		return bad("--data-dir is required")
	}
	if sc.node == "" {
		sc.node, _ = os.Hostname()
	}
	if sc.node == "" || strings.ContainsAny(sc.node, " \t\n=,") {
		return bad("--node %s: want a node name", quote(sc.node))
	}
	if sc.resource != "" && !validID(sc.resource) {
		return bad("--resource %s: want a resource id (letters, digits, '-', '_', '.')", quote(sc.resource))
	}
	if sc.socket == "" {
		name := sc.resource
		if name == "" {
			name = "checkpoint"
		}
		sc.socket = filepath.Join(DefaultSocketDir, name+".sock")
	}
	// The socket is bound in a private directory beside it (api.ListenUnix),
	// whose path is 15 bytes longer than the directory's at most; a unix
	// socket's path has at most 107.
	if !filepath.IsAbs(sc.socket) || len(filepath.Dir(sc.socket))+15 > 107 || len(sc.socket) > 107 {
		return bad("--socket %s: want an absolute path in a directory of at most 92 bytes", quote(sc.socket))
	}
	mode, err := strconv.ParseUint(*socketMode, 8, 32)
	if err != nil || mode > 0o777 || mode&0o600 != 0o600 {
		return bad("--socket-mode %s: want octal permissions that let the owner read and write, e.g. 0660", quote(*socketMode))
	}
	sc.socketMode = os.FileMode(mode)
	if sc.apiListen != "" {
		if _, _, err := net.SplitHostPort(sc.apiListen); err != nil {
			return bad("--api-listen %s: want host:port", quote(sc.apiListen))
		}
	}
	if sc.apiTokenFile != "" && sc.apiListen == "" {
		return bad("--api-token-file is for the TCP API: give --api-listen too")
	}
	if _, _, err := net.SplitHostPort(sc.replListen); err != nil {
		return bad("--repl-listen %s: want host:port", quote(sc.replListen))
	}
	if sc.peers, err = parsePeers(*peers); err != nil {
		return bad("--peers: %v", err)
	}
	others := 0
	for n := range sc.peers {
		if n != sc.node {
			others++
		}
	}
	if sc.resource == "" && others > 0 {
		return bad("--resource is required with --peers: the marks in the CIB are what keeps a stale replica from being promoted")
	}
	tlsSet := 0
	for _, s := range []string{sc.tlsCert, sc.tlsKey, sc.tlsCA} {
		if s != "" {
			tlsSet++
		}
	}
	if tlsSet != 0 && tlsSet != 3 {
		return bad("--tls-cert, --tls-key and --tls-ca go together")
	}
	if tlsSet == 3 && sc.keyFileSet {
		return bad("--key-file and --tls-*: choose one way to authenticate replication")
	}
	switch sc.syncMode {
	case checkpoint.SyncStrict, checkpoint.SyncAvailable:
	default:
		return bad("--sync-mode %s: want %s or %s", quote(sc.syncMode), checkpoint.SyncStrict, checkpoint.SyncAvailable)
	}
	if sc.syncReplicas < 1 {
		return bad("--sync-replicas %d: at least 1", sc.syncReplicas)
	}
	if others > 0 && sc.syncMode == checkpoint.SyncStrict && sc.syncReplicas > others {
		return bad("--sync-replicas %d with %d peers: strict mode could never write (add peers, or --sync-mode available)", sc.syncReplicas, others)
	}
	sc.others = others
	if sc.syncTimeout < time.Millisecond || sc.syncTimeout > time.Minute {
		return bad("--sync-timeout %s: want 1ms to 1m", sc.syncTimeout)
	}
	if sc.maxValue, err = parseSize(*maxValue); err != nil || sc.maxValue < 1 || sc.maxValue > 64<<20 {
		return bad("--max-value %s: want 1 byte to 64MiB", quote(*maxValue))
	}
	if sc.logLevel, err = logrus.ParseLevel(*logLevel); err != nil {
		return bad("--log-level %s: want debug, info, warning or error", quote(*logLevel))
	}
	return sc, exitOK, true
}

// validID is the subset of XML ids that Pacemaker resource ids use.
func validID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return false
		}
	}
	return true
}

// parsePeers reads node=host:port items separated by commas or white
// space (the agent's peers parameter is a space-separated list).
func parsePeers(s string) (map[string]string, error) {
	peers := map[string]string{}
	if strings.TrimSpace(s) == "" {
		return peers, nil
	}
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' }) {
		node, addr, ok := strings.Cut(item, "=")
		if !ok || node == "" || strings.ContainsAny(node, " \t") {
			return nil, fmt.Errorf("%s: want node=host:port", quote(item))
		}
		host, port, err := net.SplitHostPort(addr)
		if err != nil || host == "" {
			return nil, fmt.Errorf("%s: want node=host:port", quote(item))
		}
		if p, err := strconv.Atoi(port); err != nil || p < 1 || p > 65535 {
			return nil, fmt.Errorf("%s: bad port", quote(item))
		}
		if _, dup := peers[node]; dup {
			return nil, fmt.Errorf("node %s given twice", quote(node))
		}
		peers[node] = addr
	}
	return peers, nil
}

// parseSize reads bytes, with an optional KiB, MiB (or K, M) suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	t := strings.TrimSpace(s)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"K", 1 << 10}, {"M", 1 << 20}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSuffix(t, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(strings.TrimSpace(t), 10, 64)
	if err != nil || n < 0 || n > (1<<40)/mult {
		return 0, fmt.Errorf("size %q", s)
	}
	return n * mult, nil
}

// replicationAuth reads the replication credentials. A replica with no
// peers may run without the key file (tests, ocf-tester on a node with no
// corosync key): nobody can authenticate to it, since its key is random.
func (sc serveConfig) replicationAuth() (wire.Auth, error) {
	if sc.tlsCert != "" {
		return wire.TLSFiles(sc.tlsCert, sc.tlsKey, sc.tlsCA)
	}
	a, err := wire.KeyFile(sc.keyFile)
	if err != nil && sc.others == 0 && errors.Is(err, os.ErrNotExist) {
		key := make([]byte, 32)
		rand.Read(key)
		return wire.Auth{Key: key}, nil
	}
	return a, err
}

// primaryAPI says where a node's TCP API is, for 421 answers: the
// node's replication host with this node's API port (every node runs the
// same command line but for --node). Without --api-listen there is none.
func (sc serveConfig) primaryAPI() func(string) string {
	if sc.apiListen == "" {
		return nil
	}
	_, port, _ := net.SplitHostPort(sc.apiListen)
	return func(node string) string {
		addr, ok := sc.peers[node]
		if !ok {
			return ""
		}
		host, _, _ := net.SplitHostPort(addr)
		return "http://" + net.JoinHostPort(host, port)
	}
}

// noMarks stands in for the cluster's marks on a replica with no peers:
// there is nobody to mark.
type noMarks struct{}

func (noMarks) Sync(context.Context, string) error { return nil }
func (noMarks) Stale(_ context.Context, node string) error {
	return fmt.Errorf("no marks (--resource is empty): cannot mark %s stale", node)
}

// runCheckpointServe is `vnfha checkpoint serve`: until SIGTERM or
// SIGINT, then a clean stop (pending writes fail, the socket goes).
func (c cli) runCheckpointServe(args []string) int {
	sc, code, ok := c.parseServeFlags(args)
	if !ok {
		return code
	}
	log := logrus.New()
	log.SetOutput(c.stderr)
	if sc.logJSON {
		log.SetFormatter(&logrus.JSONFormatter{TimestampFormat: logTimeFormat})
	} else {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: logTimeFormat})
	}
	log.SetLevel(sc.logLevel)
	fail := func(format string, a ...any) int {
		fmt.Fprintf(c.stderr, "vnfha checkpoint serve: "+format+"\n", a...)
		return exitError
	}
	auth, err := sc.replicationAuth()
	if err != nil {
		return fail("%v", err)
	}
	var token string
	if sc.apiTokenFile != "" {
		if token, err = api.ReadTokenFile(sc.apiTokenFile); err != nil {
			return fail("%v", err)
		}
	}
	var mk checkpoint.Marks = noMarks{}
	if sc.resource != "" {
		if mk, err = marks.New(crmwrap.New(nil), sc.resource); err != nil {
			return fail("%v", err)
		}
	}
	if err := os.MkdirAll(sc.dataDir, 0o700); err != nil {
		return fail("data dir: %v", err)
	}
	st, err := store.Open(sc.dataDir, store.Options{Logger: log})
	if err != nil {
		return fail("%v", err)
	}
	defer st.Close()
	rep, err := replica.New(st, replica.Config{
		Node: sc.node, Peers: sc.peers, Listen: sc.replListen, Auth: auth,
		SyncReplicas: sc.syncReplicas, SyncMode: sc.syncMode, SyncTimeout: sc.syncTimeout,
		MaxValue: sc.maxValue, Marks: mk, Logger: log, PrimaryAPI: sc.primaryAPI(),
	})
	if err != nil {
		return fail("%v", err)
	}
	defer rep.Close()
	srv, err := api.Listen(rep, api.Config{Socket: sc.socket, SocketMode: sc.socketMode, SocketGroup: sc.socketGroup,
		Listen: sc.apiListen, Token: token, Options: api.Options{MaxValue: sc.maxValue}, Logger: log})
	if err != nil {
		return fail("%v", err)
	}
	var lc net.ListenConfig
	rl, err := lc.Listen(context.Background(), "tcp", sc.replListen)
	if err != nil {
		srv.Close()
		return fail("replication listen on %s: %v", sc.replListen, err)
	}
	sigCtx, stopSignals := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stopSignals()
	apiCtx, stopAPI := context.WithCancel(context.Background())
	replCtx, stopRepl := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); errs <- srv.Serve(apiCtx) }()
	go func() { defer wg.Done(); errs <- rep.Serve(replCtx, rl) }()
	if sc.others == 0 && sc.syncMode == checkpoint.SyncStrict {
		log.Warn("strict mode with no peers: this replica will refuse every write (give --peers, or --sync-mode available for a lone replica)")
	}
	log.WithFields(logrus.Fields{"node": sc.node, "resource": sc.resource, "socket": sc.socket, "api": sc.apiListen,
		"repl": sc.replListen, "peers": peerList(sc.peers), "sync_mode": sc.syncMode, "sync_replicas": sc.syncReplicas,
		"position": st.Position().String()}).Info("checkpoint store serving")
	var runErr error
	select {
	case <-sigCtx.Done():
		log.Info("stopping")
	case runErr = <-errs:
		log.WithError(runErr).Error("stopping after a failure")
	}
	// The replica first: its pending writes fail now (their clients get
	// 503 and retry elsewhere) rather than hold up the API's shutdown.
	rep.Close()
	stopAPI()
	stopRepl()
	wg.Wait()
	if err := st.Close(); err != nil {
		log.WithError(err).Error("close the store")
		runErr = errors.Join(runErr, err)
	}
	if runErr != nil {
		return exitError
	}
	log.Info("stopped")
	return exitOK
}

func peerList(p map[string]string) string {
	var s []string
	for n, a := range p {
		s = append(s, n+"="+a)
	}
	sort.Strings(s)
	return strings.Join(s, ",")
}

// runCheckpointStatus is `vnfha checkpoint status`: GET /v1/status over
// the socket, printed for people (or as JSON).
func (c cli) runCheckpointStatus(args []string) int {
	cmd := command{name: "checkpoint status", args: "[--socket PATH | --resource ID] [--json]",
		summary: "print a checkpoint replica's status, asked over its unix socket"}
	fs := newFlagSet(cmd)
	socket := fs.String("socket", "", "the replica's socket (default "+DefaultSocketDir+"/<resource>.sock)")
	resource := fs.String("resource", "", "the checkpoint resource, to find its default socket")
	asJSON := fs.Bool("json", false, "print the status as JSON")
	timeout := fs.Duration("timeout", 5*time.Second, "how long to wait for the answer")
	if code, ok := c.parseFlags(cmd, fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.commandUsageErr(cmd, "unexpected argument %s", quote(fs.Arg(0)))
	}
	path := *socket
	if path == "" {
		name := *resource
		if name == "" {
			name = "checkpoint"
		}
		path = filepath.Join(DefaultSocketDir, name+".sock")
	}
	cl, err := client.New("unix:" + path)
	if err != nil {
		return c.commandUsageErr(cmd, "--socket %s: %v", quote(path), err)
	}
	cl.MaxAttempts = 1
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	st, err := cl.Status(ctx)
	if err != nil {
		fmt.Fprintf(c.stderr, "vnfha checkpoint %v\n", err)
		return exitError
	}
	if *asJSON {
		data, _ := json.MarshalIndent(st, "", "  ")
		fmt.Fprintf(c.stdout, "%s\n", data)
		return exitOK
	}
	fmt.Fprint(c.stdout, formatStatus(st))
	return exitOK
}

// formatStatus is a status for people, one fact a line.
func formatStatus(st checkpoint.Status) string {
	var b strings.Builder
	fmt.Fprintf(&b, "node:      %s\nrole:      %s\nepoch:     %d\nposition:  %s\n", st.Node, st.Role, st.Epoch, st.Position)
	if st.Role == checkpoint.RolePrimary {
		fmt.Fprintf(&b, "standbys:  %d (%s, %d required)\n", len(st.Standbys), st.SyncMode, st.SyncReplicas)
		for _, s := range st.Standbys {
			sync := "not sync"
			if s.Sync {
				sync = "sync"
			}
			fmt.Fprintf(&b, "  %s %s acked %d, %s, lag %dµs\n", s.Node, s.Addr, s.Acked, sync, s.LagMicros)
		}
	} else {
		p := st.Primary
		if p == "" {
			p = "(none known)"
		}
		fmt.Fprintf(&b, "primary:   %s\nconnected: %t\ncaught up: %t\nsync:      %t\n", p, st.Connected, st.CaughtUp, st.Sync)
	}
	if st.Writable {
		b.WriteString("writable:  yes\n")
	} else {
		fmt.Fprintf(&b, "writable:  no: %s\n", st.Unwritable)
	}
	for _, p := range st.Problems {
		fmt.Fprintf(&b, "problem:   %s\n", p)
	}
	return b.String()
}
