// Package checkpoint is ocf:vnfha:checkpoint: the checkpoint store
// (`vnfha checkpoint serve`) run by Pacemaker as a promotable clone, one
// replica a node. The agent runs the store under vnfc's supervision (an
// exit is reported to Pacemaker at once), sets promotion scores from the
// replica's state and the cluster's marks, and promotes only a replica
// that holds every acknowledged write; the store takes what a fresher
// peer holds beyond it, and the promote fails only when a reachable peer
// is still fresher (PAF's rule), so that Pacemaker picks that one.
//
// The agent links the root package github.com/vnfha/vnfha/checkpoint for
// the shared types only; the store itself (bbolt, the replication, the
// API server) is another binary, never linked here.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/agents/vnfc"
	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/ocf"
)

const name = "checkpoint"

// Agent is the declaration of ocf:vnfha:checkpoint.
var Agent = ocf.MustNew(ocf.Agent{
	Name:      name,
	Version:   "1.0",
	ShortDesc: "Replicated checkpoint store for VNFC state; the freshest replica is promoted",
	LongDesc: "Runs one replica of vnfha's checkpoint store (vnfha checkpoint serve) on each node, as a promotable clone " +
		"with notify=true: the promoted replica is the primary, which takes the VNFCs' writes and acknowledges one only once it " +
		"is durable there and on the synchronous standbys (or those were marked unpromotable in the cluster first). " +
		"Colocate the VNFC's promoted instance, or its virtual IP, with the Promoted role.\n\n" +
		"The store runs under the supervisor of ocf:vnfha:vnfc: an exit is reported to Pacemaker the moment it happens. " +
		"Start waits until the store answers GET /v1/status on its unix socket, as a standby.\n\n" +
		"Promotion scores come from the replica's state and the cluster's marks (the node attribute " +
		"vnfha-checkpoint-RESOURCE, sync or stale, which the primary writes): 1000 on the primary, 100 on a standby that " +
		"holds every acknowledged write, 50 on one catching up whose mark is still sync, 10 on any replica of a new store " +
		"(no node has a mark), none on a replica marked stale. Promote refuses a stale replica, asks the store to promote " +
		"(the store compares its position, epoch then revision, with every peer it can reach, and takes the entries a " +
		"fresher peer holds beyond its own), and fails if a peer is still fresher, after handing that peer the higher " +
		"score. See the notes for a cold start after a full outage.",
	Params: []ocf.Param{
		{Name: "data_dir", Type: ocf.String, Required: true, Unique: true,
			ShortDesc: "The replica's data directory",
			LongDesc: "An absolute path, on this node's own disk: the store's log and database. Start creates it (mode 0700, " +
				"missing parents 0755) when it does not exist; one that exists must be a directory. No two resources may share it."},
		{Name: "binary", Type: ocf.String, Default: defaultBinary,
			ShortDesc: "The vnfha binary",
			LongDesc:  "The program run as BINARY checkpoint serve ..., an absolute path."},
		{Name: "repl_port", Type: ocf.Integer, Default: fmt.Sprint(defaultReplPort),
			ShortDesc: "Replication port",
			LongDesc:  "The TCP port every replica listens on for replication, on repl_address, and the port of the peers found in corosync.conf."},
		{Name: "repl_address", Type: ocf.String,
			ShortDesc: "Replication address of this node",
			LongDesc: "The address the replica listens on for replication (an IP address or a host name, no port). Default: " +
				"this node's ring0_addr in corosync.conf's nodelist (the node named as Pacemaker names it); every address " +
				"when there is no corosync.conf."},
		{Name: "peers", Type: ocf.String,
			ShortDesc: "The other replicas",
			LongDesc: "The other replicas' replication addresses, as node=host:port words separated by blanks or commas " +
				"(node: the Pacemaker node name), or none for a store of one replica. Default: every other node of " +
				"corosync.conf's nodelist, at its ring0_addr and repl_port."},
		{Name: "key_file", Type: ocf.String, Default: defaultKeyFile,
			ShortDesc: "Replication key",
			LongDesc: "A file whose bytes every replica shares: the replication link is authenticated with a key derived from " +
				"it (HKDF-SHA256), a challenge and response both ways, and an HMAC on every frame. The default is corosync's " +
				"key, which every node of a pcs-made cluster has, root-only. Not used with tls_cert."},
		{Name: "tls_cert", Type: ocf.String,
			ShortDesc: "Replication TLS certificate",
			LongDesc:  "With tls_key and tls_ca: mutual TLS on the replication link instead of key_file. PEM files, absolute paths."},
		{Name: "tls_key", Type: ocf.String, ShortDesc: "Replication TLS key", LongDesc: "The private key of tls_cert."},
		{Name: "tls_ca", Type: ocf.String, ShortDesc: "Replication TLS CA", LongDesc: "The CA the peers' certificates must chain to."},
		{Name: "socket", Type: ocf.String, Unique: true,
			ShortDesc: "Client API socket",
			LongDesc: "The unix socket of the client API (HTTP/1.1), which also serves the control endpoints the agent uses. " +
				"Default: " + defaultSocketDir + "/RESOURCE.sock (RESOURCE: the resource's name, without a clone's :N)."},
		{Name: "socket_mode", Type: ocf.String, Default: "0660",
			ShortDesc: "Permissions of the socket",
			LongDesc:  "Octal permissions of the socket: who may connect (and so write checkpoints). The owner (root) keeps read and write."},
		{Name: "socket_group", Type: ocf.String,
			ShortDesc: "Group of the socket",
			LongDesc:  "The group (name or id) the socket belongs to, for VNFCs that do not run as root. Default: root's."},
		{Name: "api_listen", Type: ocf.String,
			ShortDesc: "TCP address of the client API",
			LongDesc: "host:port, or :port for every address, where the client API is also served over TCP, for VNFCs on other " +
				"hosts. Every replica listens (a standby answers reads and sends writes to the primary with 421), so give :port " +
				"and colocate an ocf:vnfha:vip with the Promoted role for the clients: the VIP's address is on the primary's node " +
				"only, and a standby could not listen on it. The control endpoints are never served there. Default: none."},
		{Name: "api_token_file", Type: ocf.String,
			ShortDesc: "Bearer token of the TCP API",
			LongDesc:  "A file holding the token that TCP clients must send (Authorization: Bearer). Needs api_listen."},
		{Name: "sync_replicas", Type: ocf.Integer, Default: fmt.Sprint(checkpoint.DefaultSyncCount),
			ShortDesc: "Standbys a write needs",
			LongDesc: "How many standbys of the synchronous set must have made a write durable before it is acknowledged (1-64). " +
				"With sync_mode=strict the store refuses more than it has peers."},
		{Name: "sync_mode", Type: ocf.String, Default: checkpoint.SyncStrict,
			ShortDesc: "strict or available",
			LongDesc: "What the primary does with fewer than sync_replicas standbys in its synchronous set: strict refuses " +
				"writes (503, naming the reason), except that while enough standbys are caught up and being marked sync a " +
				"write waits for their marks, up to sync_timeout; available goes on, but only after the missing standbys were marked stale in " +
				"the cluster, so that none of them can be promoted. Either way no acknowledged write is lost by a failover. " +
				"A store of one replica (no peers) runs as available: it has no standby to wait for."},
		{Name: "sync_timeout", Type: ocf.Time, Default: "1s",
			ShortDesc: "How long a standby may take to acknowledge",
			LongDesc:  "A standby that does not acknowledge a write within this leaves the synchronous set (after its stale mark); 1ms to 1min."},
		{Name: "max_value", Type: ocf.Integer, Default: fmt.Sprint(checkpoint.DefaultMaxValue),
			ShortDesc: "Largest value, in bytes",
			LongDesc:  "A larger value is refused with 413. 1 to 67108864 (64MiB)."},
		{Name: "log_file", Type: ocf.String,
			ShortDesc: "File for the store's output",
			LongDesc: "An absolute path; the store's stdout and stderr and the supervisor's lines are appended to it (rotate it " +
				"with copytruncate). Default: none (discarded; the supervisor's lines still reach the node's log)."},
	},
	Actions: []ocf.Action{
		{Name: ocf.ActionStart, Handler: start, Timeout: 60 * time.Second},
		{Name: ocf.ActionStop, Handler: stop, Timeout: 30 * time.Second},
		{Name: ocf.ActionMonitor, Handler: monitor, Timeout: 20 * time.Second, Interval: 10 * time.Second},
		{Name: ocf.ActionMonitor, Timeout: 20 * time.Second, Interval: 9 * time.Second, Role: ocf.RolePromoted},
		{Name: ocf.ActionPromote, Handler: promote, Timeout: 60 * time.Second},
		{Name: ocf.ActionDemote, Handler: demote, Timeout: 30 * time.Second},
		{Name: ocf.ActionNotify, Handler: notify, Timeout: 20 * time.Second},
		{Name: ocf.ActionValidateAll, Timeout: 20 * time.Second},
		{Name: ocf.ActionMetaData, Timeout: 5 * time.Second},
	},
	Check:    check,
	Validate: validate,
	ExitCodes: []ocf.ExitCodeDoc{
		{Code: ocf.ErrGeneric, When: "start: the store exited, or did not answer GET /v1/status within the start timeout; what it " +
			"started is stopped. monitor: the store exited, or reports problems (a full disk, replication refused). promote: the " +
			"store is not running, this replica is marked stale or has no mark while others do, a reachable peer is fresher " +
			"(its score is raised and this one's lowered first), the marks or the epoch floor cannot be read or written. " +
			"stop: a process of the store survived SIGKILL."},
		{Code: ocf.ErrArgs, When: "validate-all, start, promote: this node is not in corosync.conf's nodelist (or the file does " +
			"not parse) and repl_address or peers is not set."},
		{Code: ocf.ErrNotInstalled, When: "validate-all, start, promote: binary, a TLS file, api_token_file, the log file's " +
			"directory, or key_file (with peers) is missing on this node, or crm_attribute or cibadmin for the scores and marks."},
		{Code: ocf.ErrNotConfigured, When: "every action but stop, demote and notify: a parameter does not parse or is out of range, " +
			"or the resource name is not one file name; validate-all, start, promote: data_dir or log_file of the wrong kind, " +
			"an unknown socket_group."},
		{Code: ocf.NotRunning, When: "monitor: the store does not run here. demote: the instance is stopped."},
		{Code: ocf.RunningPromoted, When: "monitor: the store runs as the primary."},
		{Code: ocf.FailedPromoted, When: "monitor: the promoted store exited, reports problems, or is no longer the primary."},
		{Code: ocf.Degraded, When: "monitor: the store runs but does not answer its status (191 when promoted), or its supervisor " +
			"is gone."},
	},
	Notes: notes,
})

// check is the framework's Check hook: the parameters alone.
func check(req *ocf.Request) error {
	_, err := configFor(req)
	return err
}

// configOf parses the parameters and resolves them on this node, for the
// actions that act on the configuration.
func configOf(req *ocf.Request) (*config, error) {
	c, err := configFor(req)
	if err != nil {
		return nil, ocf.NotConfigured("%v", err)
	}
	if err := c.resolve(); err != nil {
		return nil, err
	}
	return c, nil
}

// validate runs in validate-all, start and promote: what the configuration
// names on this node.
func validate(_ context.Context, req *ocf.Request) error {
	c, err := configOf(req)
	if err != nil {
		return err
	}
	return c.validate()
}

// stateDir is the instance's state directory, HA_RSCTMP/vnfha-checkpoint/
// INSTANCE: the store process's record (procDir) and the agent's files.
func stateDir(env *ocf.Env) (string, error) { return env.StateDir(name) }

// procDir holds the supervised store's record (vnfc.Process's Dir).
const procDir = "store"

// storeStopTimeout is how long the store gets after SIGTERM to close its
// database and sockets before SIGKILL (cut to fit the stop's timeout).
const storeStopTimeout = 20 * time.Second

// process is the store as vnfc's supervisor runs it. c may be nil (stop
// with invalid parameters): only Dir counts then.
func process(dir string, c *config, env *ocf.Env) *vnfc.Process {
	p := &vnfc.Process{Dir: filepath.Join(dir, procDir), Agent: name, Instance: env.Instance, Noun: "the store",
		StopSignal: syscall.SIGTERM, StopTimeout: storeStopTimeout, FastFail: true}
	if c != nil {
		p.Argv, p.LogFile = c.argv(), c.logFile
	}
	return p
}

func start(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		return err
	}
	c, err := configOf(req)
	if err != nil {
		return err
	}
	p := process(dir, c, req.Env)
	ps, err := p.Status(ctx)
	if err != nil {
		return ocf.Generic("%v", err)
	}
	client := newStoreClient(c.socket)
	switch ps.State {
	case vnfc.ProcessRunning:
		if st, err := client.status(ctx); err == nil {
			req.Log.Debug("already running")
			keepScore(ctx, req, c, dir, st)
			return nil
		}
		fallthrough
	case vnfc.ProcessFailed:
		req.Log.Infof("cleaning up before start: %s", ps.Reason)
		if err := p.Stop(ctx, req.Log); err != nil {
			return err
		}
	}
	// A new start: no role, no score of a previous run.
	if err := os.RemoveAll(dir); err != nil {
		return ocf.Generic("clear state directory: %v", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return ocf.Generic("create state directory: %v", err)
	}
	if err := makeDirs(c); err != nil {
		return err
	}
	// GET /v1/status answering is what "up" means: the store has opened
	// its data and serves its socket.
	ready := func(ctx context.Context) error {
		_, err := client.status(ctx)
		return err
	}
	if err := p.Start(ctx, req.Env, req.Log, ready); err != nil {
		return err
	}
	if st, err := client.status(ctx); err == nil {
		keepScore(ctx, req, c, dir, st)
	}
	req.Log.Infof("started the store (%s, replication on %s, peers %s)", c.socket, c.replListen(), orNone(c.peerList()))
	return nil
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// makeDirs creates data_dir (0700, root's: the store's data is nobody
// else's) and the socket's directory (0755, so that a socket_group can
// reach the socket).
func makeDirs(c *config) error {
	if err := os.MkdirAll(filepath.Dir(c.dataDir), 0o755); err != nil {
		return ocf.Generic("create data_dir's parent: %v", err)
	}
	if err := os.Mkdir(c.dataDir, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return ocf.Generic("create data_dir: %v", err)
	}
	if fi, err := os.Stat(c.dataDir); err != nil || !fi.IsDir() {
		return ocf.NotConfigured("data_dir %s is not a directory", ocf.Quote(c.dataDir))
	}
	if err := os.MkdirAll(filepath.Dir(c.socket), 0o755); err != nil {
		return ocf.Generic("create the socket's directory: %v", err)
	}
	return nil
}

func stop(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		req.Log.Warnf("%v: nothing of it can run", err)
		return nil
	}
	// Only the state directory counts: the store's record names what to
	// end, whatever the parameters say now.
	if err := process(dir, nil, req.Env).Stop(ctx, req.Log); err != nil {
		return err
	}
	// The mark stays: it is the cluster's record of what this replica
	// holds, and outlives the process.
	clearScore(ctx, req, dir)
	if err := os.RemoveAll(dir); err != nil {
		req.Log.Warnf("remove state directory: %v", err)
	}
	return nil
}

func monitor(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		return err
	}
	c, err := configFor(req)
	if err != nil {
		return ocf.NotConfigured("%v", err)
	}
	c.node = c.nodeName()
	ps, err := process(dir, c, req.Env).Status(ctx)
	if err != nil {
		return ocf.Generic("%v", err)
	}
	promoted := exists(filepath.Join(dir, promotedFile))
	// fail and degraded give the code for the role Pacemaker knows.
	fail := func(format string, args ...any) error {
		if promoted {
			return ocf.Errorf(ocf.FailedPromoted, format, args...)
		}
		return ocf.Generic(format, args...)
	}
	degraded := func(format string, args ...any) error {
		if promoted {
			return ocf.Errorf(ocf.DegradedPromoted, format, args...)
		}
		return ocf.Errorf(ocf.Degraded, format, args...)
	}
	switch ps.State {
	case vnfc.ProcessStopped:
		return ocf.NotRunning
	case vnfc.ProcessFailed:
		return fail("%s", ps.Reason)
	}
	st, err := newStoreClient(c.socket).status(ctx)
	if err != nil {
		return degraded("the store runs but does not answer its status: %v", err)
	}
	switch {
	case st.Role == checkpoint.RolePrimary && !promoted:
		// A promote that ran out of time after the store promoted: the
		// truth is what Pacemaker must learn.
		if err := touch(filepath.Join(dir, promotedFile)); err != nil {
			return ocf.Generic("%v", err)
		}
		promoted = true
		req.Log.Warnf("the store is the primary though no promote finished here")
	case st.Role != checkpoint.RolePrimary && promoted:
		return fail("the store is no longer the primary (%s; epoch %d)", st.Role, st.Epoch)
	}
	if len(st.Problems) > 0 {
		return fail("%s", strings.Join(st.Problems, "; "))
	}
	keepScore(ctx, req, c, dir, st)
	if ps.Unsupervised {
		return degraded("the store runs, but its supervisor is gone: an exit will be found by the next monitor; restart the resource to supervise it again")
	}
	if promoted {
		return ocf.RunningPromoted
	}
	return nil
}

func promote(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		return err
	}
	c, err := configOf(req)
	if err != nil {
		return err
	}
	ps, err := process(dir, c, req.Env).Status(ctx)
	if err != nil {
		return ocf.Generic("%v", err)
	}
	if ps.State != vnfc.ProcessRunning {
		return ocf.Generic("cannot promote: the store is not running %s", ps.Reason)
	}
	client := newStoreClient(c.socket)
	st, err := client.status(ctx)
	if err != nil {
		return ocf.Generic("cannot promote: the store does not answer its status: %v", err)
	}
	// The marks and the epoch floor belong to a promotable clone. Outside
	// one (ocf-tester, or an operator by hand: Pacemaker never promotes a
	// primitive) the store's own check of its peers is all there is.
	marks := clusterMarks{Marks: map[string]string{}}
	if promotable(req) {
		if marks, err = readMarks(ctx, c.resource); err != nil {
			return ocf.Generic("cannot promote: %v", err)
		}
	} else {
		req.Log.Warnf("not an instance of a promotable clone: promoted without the cluster's marks and epoch floor")
	}
	if st.Role != checkpoint.RolePrimary {
		if err := promotableHere(marks, c.node); err != nil {
			// Its score must go too, or Pacemaker tries it again.
			if serr := applyScore(ctx, req, dir, noScore); serr != nil {
				req.Log.Warnf("%v", serr)
			}
			return ocf.Generic("cannot promote: %v", err)
		}
		preq := checkpoint.PromoteRequest{MinEpoch: marks.Epoch, Ignore: unpromotable(marks, c.peers)}
		if promotable(req) {
			if preq.Absent, err = absentPeers(ctx, c.node, c.peers); err != nil {
				req.Log.Warnf("every peer is asked: %v", err)
			}
		}
		st, err = client.promote(ctx, preq)
		var fresher *checkpoint.FresherPeerError
		switch {
		case errors.As(err, &fresher):
			outrank(ctx, req, dir, st.Position, marks, fresher)
			return ocf.Generic("cannot promote: %v: promote it instead", fresher)
		case err != nil:
			return ocf.Generic("promote: %v", err)
		}
		if st.Role != checkpoint.RolePrimary {
			return ocf.Generic("promote: the store answered, but as a %s", st.Role)
		}
	}
	// The floor first: an epoch that is not recorded may be used again by
	// a replica that never met this one.
	if st.Epoch > marks.Epoch && promotable(req) {
		if err := writeEpoch(ctx, c.resource, st.Epoch); err != nil {
			return ocf.Generic("promoted to epoch %d, but %v", st.Epoch, err)
		}
	}
	if err := touch(filepath.Join(dir, promotedFile)); err != nil {
		return ocf.Generic("%v", err)
	}
	if err := applyScore(ctx, req, dir, scorePrimary); err != nil {
		req.Log.Warnf("promoted, but %v", err)
	}
	req.Log.Infof("promoted: epoch %d, position %s", st.Epoch, st.Position)
	return nil
}

// promotableHere says why the marks forbid promoting the replica of node:
// its mark is stale (it may lack acknowledged writes), or it has none
// while other nodes have one (it never held every acknowledged write), or
// one no agent writes. A new store (no marks anywhere) may be promoted
// anywhere.
func promotableHere(m clusterMarks, node string) error {
	switch own := m.of(node); {
	case own == checkpoint.MarkSync:
		return nil
	case own == "" && !m.any():
		return nil
	case own == checkpoint.MarkStale:
		return &checkpoint.StaleError{Reason: fmt.Sprintf("node %s is marked %s; if every fresher replica is lost, see \"Forcing a promotion\" in the agent's notes", node, own)}
	case own == "":
		return &checkpoint.StaleError{Reason: fmt.Sprintf("node %s has no mark while other nodes have one", node)}
	default:
		return &checkpoint.StaleError{Reason: fmt.Sprintf("node %s's mark is %s, neither sync nor stale", node, ocf.Quote(own))}
	}
}

// unpromotable names the nodes, among peers and those with a mark, that
// the marks forbid promoting: the store's check of its peers ignores
// them. What such a peer holds beyond this replica was never
// acknowledged, and since no score can make it promotable, letting it
// refuse the promote would leave the cluster without a primary (a
// demoted old primary with writes it never got acknowledged is one).
func unpromotable(m clusterMarks, peers map[string]string) []string {
	nodes := make(map[string]bool, len(peers)+len(m.Marks))
	for n := range peers {
		nodes[n] = true
	}
	for n := range m.Marks {
		nodes[n] = true
	}
	var out []string
	for n := range nodes {
		if promotableHere(m, n) != nil {
			out = append(out, n)
		}
	}
	slices.Sort(out)
	return out
}

// outrank hands the promotion to the fresher peer, as PAF does: this
// instance's score goes down to scoreOutranked (and stays there until its
// position changes), the peer's goes up to scorePrimary unless the peer is
// marked stale, which no score may make promotable. Pacemaker then
// computes a new transition that promotes the peer.
func outrank(ctx context.Context, req *ocf.Request, dir string, own checkpoint.Position, m clusterMarks, f *checkpoint.FresherPeerError) {
	req.Log.Warnf("%v", f)
	if !promotable(req) {
		return
	}
	if err := durable.WriteFile(filepath.Join(dir, outrankedFile), []byte(own.String()), 0o600); err != nil {
		req.Log.Warnf("%v", err)
	}
	if err := applyScore(ctx, req, dir, scoreOutranked); err != nil {
		req.Log.Warnf("%v", err)
	}
	if err := checkNodeName(f.Peer); err != nil {
		req.Log.Warnf("the fresher peer's name %s %v: its score is left alone", ocf.Quote(f.Peer), err)
		return
	}
	if m.of(f.Peer) == checkpoint.MarkStale {
		req.Log.Warnf("peer %s is fresher but marked stale: its score is left alone", f.Peer)
		return
	}
	if err := setScore(ctx, resourceOf(req.Env.Instance), f.Peer, scorePrimary); err != nil {
		req.Log.Warnf("raise the score of %s: %v", f.Peer, err)
	}
}

func demote(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		req.Log.Warnf("%v: nothing of it can run", err)
		return nil
	}
	// Demote never fails because of the configuration: without a usable
	// one, the socket is the default one.
	c, err := configFor(req)
	if err != nil {
		req.Log.Warnf("invalid parameters (%v); demoting through the default socket", err)
		if c, err = defaultConfig(req); err != nil {
			req.Log.Warnf("%v", err)
		}
	}
	ps, err := process(dir, nil, req.Env).Status(ctx)
	if err != nil {
		return ocf.Generic("%v", err)
	}
	switch ps.State {
	case vnfc.ProcessStopped:
		return ocf.NotRunning
	case vnfc.ProcessFailed:
		// The failed instance's recovery: the stop that follows ends it
		// and deletes the score.
		_ = os.Remove(filepath.Join(dir, promotedFile))
		req.Log.Infof("the store is not running (%s); nothing to demote", ps.Reason)
		return nil
	}
	if c == nil {
		return ocf.Generic("cannot demote: no socket to reach the store")
	}
	c.node = c.nodeName()
	client := newStoreClient(c.socket)
	if err := client.demote(ctx); err != nil {
		// The stop of the recovery ends the store, which demotes it too.
		return ocf.Generic("demote: %v", err)
	}
	if err := os.Remove(filepath.Join(dir, promotedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ocf.Generic("remove promotion marker: %v", err)
	}
	if st, err := client.status(ctx); err == nil {
		keepScore(ctx, req, c, dir, st)
	}
	return nil
}

// defaultConfig is what demote needs of an instance whose parameters do
// not parse: its socket (the parameter if it is an absolute path, else
// the default) and its names.
func defaultConfig(req *ocf.Request) (*config, error) {
	c := &config{instance: req.Env.Instance, resource: resourceOf(req.Env.Instance), node: req.Env.OnNode}
	c.socket = req.Params.String("socket")
	if !filepath.IsAbs(c.socket) {
		if err := ocf.CheckName(c.resource); err != nil {
			return nil, fmt.Errorf("the resource name %s %v", ocf.Quote(c.resource), err)
		}
		c.socket = filepath.Join(defaultSocketDir, c.resource+".sock")
	}
	return c, nil
}

// notify: after a promote, every other running replica is told where the
// primary is (POST /v1/control/follow), so that it connects at once rather
// than at its next search; a replica that starts while a primary runs is
// told too. A failed nudge is a warning: the store finds the primary by
// itself.
func notify(ctx context.Context, req *ocf.Request) error {
	n := req.Notify
	if n == nil || n.Type != ocf.NotifyPost {
		return nil
	}
	c, err := configFor(req)
	if err != nil {
		req.Log.Warnf("invalid parameters (%v); no notification passed on", err)
		return nil
	}
	node := c.nodeName()
	var primary string
	switch n.Operation {
	case ocf.ActionPromote:
		if len(n.Promote) > 0 {
			primary = n.Promote[0].Uname
		}
	case ocf.ActionStart:
		if ocf.Uname(n.Start, req.Env.Instance) == "" && !startsOn(n.Start, node) {
			return nil
		}
		if len(n.Promoted) > 0 {
			primary = n.Promoted[0].Uname
		}
	}
	if primary == "" || primary == node {
		return nil
	}
	dir, err := stateDir(req.Env)
	if err != nil {
		return nil
	}
	if ps, err := process(dir, nil, req.Env).Status(ctx); err != nil || ps.State != vnfc.ProcessRunning {
		return nil
	}
	if err := newStoreClient(c.socket).follow(ctx, primary); err != nil {
		req.Log.Warnf("tell the store to follow %s: %v", primary, err)
		return nil
	}
	req.Log.Infof("told the store that %s is the primary", primary)
	return nil
}

// startsOn reports whether one of the instances started is on node.
func startsOn(peers []ocf.Peer, node string) bool {
	for _, p := range peers {
		if p.Uname == node {
			return true
		}
	}
	return false
}

// touch creates an empty file.
func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}
