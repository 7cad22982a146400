package bench

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/test/ckptjepsen"
)

// checkpointStores are the stores BenchmarkCheckpoint measures, in order:
// vnfha's own (checkpoint_vnfha_test.go), then the stock ones.
func checkpointStores() []checkpointStore {
	return []checkpointStore{vnfhaStore, redisStore, etcdStore}
}

// benchVIP is host .n of the lab's subnet (tests take .100-.199).
func benchVIP(l *lab.Lab, n byte) netip.Addr {
	a := l.Subnet().Addr().As4()
	a[3] = n
	return netip.AddrFrom4(a)
}

// redisStore: Debian's redis-server as a promotable clone with
// ocf:heartbeat:redis, a primary and one replica on two nodes (clone-max
// 2), an ocf:vnfha:vip on the Promoted role; a put is SET then WAIT 1 1000
// on one connection. For the failover the clone gets an instance on every
// node (clone-max 3), so that a replica is left when the primary's node
// goes, as vnfha's store has one on every node.
var redisStore = checkpointStore{
	name: "redis",
	durability: "SET + WAIT 1, appendonly with appendfsync always: on the primary's disk (fsync) and in " +
		"one replica's memory (Redis 7.0 has no WAITAOF; the replica's own fsync is not waited for)",
	setup: cloneSetup(121, func(ctx context.Context, l *lab.Lab, vip netip.Addr) (*ckptjepsen.LabCluster, error) {
		return ckptjepsen.SetupRedis(ctx, l, ckptjepsen.RedisOptions{Resource: "bredis", VIP: vip, Nodes: 2})
	}, func(l *lab.Lab, vip netip.Addr) ckptjepsen.Store { return ckptjepsen.RedisStore(l, vip) }),
}

// etcd's ports on each node.
const (
	etcdClientPort = 2379
	etcdPeerPort   = 2380
)

// etcdStore: a 3-member etcd (Debian's etcd-server, 3.4), one member on
// each node as a plain process in the node's namespaces, each with its
// data dir in the node's own /var/lib/etcd; clients (go.etcd.io/etcd/
// client/v3, gRPC) talk to the leader, which forwards nothing.
var etcdStore = checkpointStore{
	name: "etcd",
	durability: "Put: committed by Raft, i.e. in the WAL (fdatasync) of a majority (2 of 3) of members " +
		"before the answer, the leader's included",
	setup: func(ctx context.Context, b *testing.B, l *lab.Lab) (func(context.Context) (putClient, error),
		func(context.Context) (*ckptjepsen.Result, error), func(), error) {
		stop, err := startEtcd(ctx, l)
		if err != nil {
			return nil, nil, nil, err
		}
		leader, err := etcdLeader(ctx, l)
		if err != nil {
			stop()
			return nil, nil, nil, err
		}
		newClient := func(ctx context.Context) (putClient, error) {
			c, err := etcdClient(ctx, l, leader)
			if err != nil {
				return nil, err
			}
			return etcdPut{c}, nil
		}
		return newClient, nil, stop, nil
	},
}

type etcdPut struct{ c *clientv3.Client }

func (p etcdPut) Put(ctx context.Context, key string, value []byte) error {
	_, err := p.c.Put(ctx, key, string(value))
	return err
}

func (p etcdPut) Close() error { return p.c.Close() }

// etcdURL is a member's URL on port.
func etcdURL(l *lab.Lab, node string, port int) string {
	a, _ := l.Addr(node)
	return "http://" + netip.AddrPortFrom(a, uint16(port)).String()
}

// startEtcd starts a fresh member on every node and returns once each
// answers; stop ends them all.
func startEtcd(ctx context.Context, l *lab.Lab) (stop func(), err error) {
	var initial []string
	for _, n := range l.Nodes() {
		initial = append(initial, n+"="+etcdURL(l, n, etcdPeerPort))
	}
	ectx, cancel := context.WithCancel(context.Background())
	var waits []func() error
	stop = func() {
		cancel()
		for _, w := range waits {
			w()
		}
	}
	for _, n := range l.Nodes() {
		// A fresh cluster each run: no member of an earlier one.
		if err := os.RemoveAll(filepath.Join(l.NodeDir(n), "var-lib-etcd", "bench")); err != nil {
			stop()
			return nil, err
		}
		logf, err := os.Create(filepath.Join(l.NodeDir(n), "etcd.log"))
		if err != nil {
			stop()
			return nil, err
		}
		cmd, err := l.Command(ectx, n, "etcd", "--name", n, "--data-dir", "/var/lib/etcd/bench",
			"--listen-client-urls", etcdURL(l, n, etcdClientPort), "--advertise-client-urls", etcdURL(l, n, etcdClientPort),
			"--listen-peer-urls", etcdURL(l, n, etcdPeerPort), "--initial-advertise-peer-urls", etcdURL(l, n, etcdPeerPort),
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-state", "new",
			"--initial-cluster-token", "vnfha-bench-"+l.Name(), "--logger", "zap", "--log-outputs", "stderr")
		if err != nil {
			logf.Close()
			stop()
			return nil, err
		}
		cmd.Stdout, cmd.Stderr = logf, logf
		if err := cmd.Start(); err != nil {
			logf.Close()
			stop()
			return nil, fmt.Errorf("start etcd on %s: %w", n, err)
		}
		waits = append(waits, func() error { defer logf.Close(); return cmd.Wait() })
	}
	if _, err := etcdLeader(ctx, l); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// etcdClient connects to the member on node, from the lab's client
// namespace.
func etcdClient(ctx context.Context, l *lab.Lab, node string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   []string{etcdURL(l, node, etcdClientPort)},
		DialTimeout: 5 * time.Second,
		Logger:      zap.NewNop(),
		Context:     ctx,
		DialOptions: []grpc.DialOption{grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return l.Dial(ctx, lab.ClientName, "tcp", addr)
		})},
	})
}

// etcdLeader waits, at most 30 s, until every member answers and they
// agree on a leader, and returns the leader's node.
func etcdLeader(ctx context.Context, l *lab.Lab) (string, error) {
	deadline := time.Now().Add(30 * time.Second)
	var why error
	for time.Now().Before(deadline) {
		leader, err := etcdLeaderOnce(ctx, l)
		if err == nil {
			return leader, nil
		}
		why = err
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(300 * time.Millisecond):
		}
	}
	return "", fmt.Errorf("etcd: no leader every member agrees on within 30s: %w", why)
}

func etcdLeaderOnce(ctx context.Context, l *lab.Lab) (string, error) {
	leaders := map[uint64]bool{}
	var leader string
	for _, n := range l.Nodes() {
		c, err := etcdClient(ctx, l, n)
		if err != nil {
			return "", err
		}
		sctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		st, err := c.Status(sctx, etcdURL(l, n, etcdClientPort))
		cancel()
		c.Close()
		if err != nil {
			return "", fmt.Errorf("status of %s: %w", n, err)
		}
		if st.Leader == 0 {
			return "", fmt.Errorf("%s knows no leader", n)
		}
		leaders[st.Leader] = true
		if st.Leader == st.Header.MemberId {
			leader = n
		}
	}
	if len(leaders) != 1 || leader == "" {
		return "", errors.New("the members do not agree on a leader yet")
	}
	return leader, nil
}

// cloneSetup is the setup of a store that ckptjepsen runs as a
// promotable clone on two nodes (a primary and one replica) with a VIP on
// .vip of the lab's subnet: setupCluster makes it, newStore a client
// through the VIP. Its failover gives the clone an instance on every node
// (clone-max 3), so that a replica is left when the primary's node goes,
// then causes ckptFailoverRounds power losses of the primary's node.
func cloneSetup(vip byte, setupCluster func(context.Context, *lab.Lab, netip.Addr) (*ckptjepsen.LabCluster, error),
	newStore func(*lab.Lab, netip.Addr) ckptjepsen.Store) func(context.Context, *testing.B, *lab.Lab) (func(context.Context) (putClient, error),
	func(context.Context) (*ckptjepsen.Result, error), func(), error) {
	return func(ctx context.Context, b *testing.B, l *lab.Lab) (func(context.Context) (putClient, error),
		func(context.Context) (*ckptjepsen.Result, error), func(), error) {
		addr := benchVIP(l, vip)
		cluster, err := setupCluster(ctx, l, addr)
		if err != nil {
			return nil, nil, nil, err
		}
		teardown := func() {
			for _, r := range []string{cluster.VIP, cluster.Resource + "-clone"} {
				if out, err := l.Exec(context.Background(), l.Nodes()[0], "pcs", "resource", "delete", r); err != nil {
					b.Logf("pcs resource delete %s: %v: %s", r, err, out)
				}
			}
		}
		if _, err := cluster.Settle(ctx); err != nil {
			teardown()
			return nil, nil, nil, err
		}
		newClient := func(context.Context) (putClient, error) { return storePut{newStore(l, addr)}, nil }
		failover := func(ctx context.Context) (*ckptjepsen.Result, error) {
			if out, err := l.Exec(ctx, l.Nodes()[0], "pcs", "resource", "meta", cluster.Resource+"-clone", "clone-max=3"); err != nil {
				return nil, fmt.Errorf("clone-max=3: %w: %s", err, out)
			}
			cluster.Instances = 3
			store := newStore(l, addr)
			defer store.Close()
			return ckptjepsen.Run(ctx, ckptjepsen.Config{Store: store, Cluster: cluster, Trials: ckptFailoverRounds,
				Faults: []ckptjepsen.Fault{ckptjepsen.PowerLoss}, MaxRun: time.Second, ValueSize: ckptValueSize})
		}
		return newClient, failover, teardown, nil
	}
}

// storePut is a putClient of a ckptjepsen.Store.
type storePut struct{ s ckptjepsen.Store }

func (p storePut) Put(ctx context.Context, key string, value []byte) error {
	_, err := p.s.Put(ctx, key, value)
	return err
}

func (p storePut) Close() error { return p.s.Close() }
