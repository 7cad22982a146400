package ckptjepsen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/vnfha/vnfha/lab"
)

// Redis is the Store of a Redis primary reached at Addr: each Put is SET
// then WAIT Replicas Timeout on the same connection, and counts as
// acknowledged only when WAIT answered at least Replicas. What that
// promises (Redis 7.0 has no WAITAOF): the primary appended the write to
// its AOF and, with appendfsync always, fsynced it before answering SET;
// Replicas replicas received it (in memory; their own fsync is not
// waited for).
type Redis struct {
	Addr string // host:port, the VIP's
	Dial Dialer // nil: from this process's namespace
	// Replicas is WAIT's numreplicas. Default 1.
	Replicas int
	// Timeout is WAIT's timeout. Default 1 s.
	Timeout time.Duration

	conn *RedisConn
}

// ErrNotReplicated is Put's error when WAIT counted fewer replicas than
// asked within its timeout: SET took place on the primary, unacknowledged.
var ErrNotReplicated = errors.New("redis: WAIT counted too few replicas")

func (r *Redis) replicas() int {
	if r.Replicas <= 0 {
		return 1
	}
	return r.Replicas
}

func (r *Redis) timeout() time.Duration {
	if r.Timeout <= 0 {
		return time.Second
	}
	return r.Timeout
}

// do runs one command on the Store's connection, dialled when there is
// none; after an error the connection is dropped (the next command dials
// again, through the VIP, wherever it now leads).
func (r *Redis) do(ctx context.Context, args ...[]byte) (Reply, error) {
	if r.conn == nil {
		c, err := DialRedis(ctx, r.Dial, r.Addr)
		if err != nil {
			return Reply{}, err
		}
		r.conn = c
	}
	rep, err := r.conn.Do(ctx, 5*time.Second, args...)
	if err != nil {
		r.conn.Close()
		r.conn = nil
	}
	return rep, err
}

// Put is SET key value, then WAIT.
func (r *Redis) Put(ctx context.Context, key string, value []byte) (int64, error) {
	rep, err := r.do(ctx, []byte("SET"), []byte(key), value)
	if err != nil {
		return 0, err
	}
	if rep.Kind != '+' || string(rep.Str) != "OK" {
		r.Close() // a server that answers this is not trusted further
		return 0, fmt.Errorf("redis SET %s: answered %c%q", key, rep.Kind, clip(rep.Str))
	}
	rep, err = r.do(ctx, []byte("WAIT"), []byte(strconv.Itoa(r.replicas())), []byte(strconv.FormatInt(r.timeout().Milliseconds(), 10)))
	if err != nil {
		return 0, err
	}
	if rep.Kind != ':' {
		r.Close()
		return 0, fmt.Errorf("redis WAIT: answered %c%q", rep.Kind, clip(rep.Str))
	}
	// Too few replicas: the connection is sound, and kept.
	if rep.Int < int64(r.replicas()) {
		return 0, fmt.Errorf("%w: %d of %d within %s", ErrNotReplicated, rep.Int, r.replicas(), r.timeout())
	}
	return 0, nil
}

// ReadAll reads every key on a fresh connection, which must reach the
// primary (ROLE says master). Redis has no revisions: rev is 0.
func (r *Redis) ReadAll(ctx context.Context) ([]Item, int64, error) {
	c, err := DialRedis(ctx, r.Dial, r.Addr)
	if err != nil {
		return nil, 0, err
	}
	defer c.Close()
	rep, err := c.Do(ctx, 10*time.Second, []byte("ROLE"))
	if err != nil {
		return nil, 0, err
	}
	if len(rep.Array) == 0 || string(rep.Array[0].Str) != "master" {
		role := "?"
		if len(rep.Array) > 0 {
			role = string(rep.Array[0].Str)
		}
		return nil, 0, fmt.Errorf("redis at %s is a %s, not the primary", r.Addr, role)
	}
	rep, err = c.Do(ctx, 10*time.Second, []byte("KEYS"), []byte("*"))
	if err != nil {
		return nil, 0, err
	}
	keys := make([][]byte, 0, len(rep.Array))
	for _, k := range rep.Array {
		keys = append(keys, k.Str)
	}
	var items []Item
	for len(keys) > 0 {
		batch := keys[:min(len(keys), 1000)]
		keys = keys[len(batch):]
		rep, err := c.Do(ctx, 10*time.Second, append([][]byte{[]byte("MGET")}, batch...)...)
		if err != nil {
			return nil, 0, err
		}
		if len(rep.Array) != len(batch) {
			return nil, 0, fmt.Errorf("redis MGET of %d keys answered %d values", len(batch), len(rep.Array))
		}
		for i, v := range rep.Array {
			if v.Nil {
				continue // deleted between KEYS and MGET
			}
			items = append(items, Item{Key: string(batch[i]), Value: bytes.Clone(v.Str)})
		}
	}
	return items, 0, nil
}

// Close drops the connection.
func (r *Redis) Close() error {
	if r.conn != nil {
		err := r.conn.Close()
		r.conn = nil
		return err
	}
	return nil
}

// Info is INFO section of the Redis at addr, as key: value.
func Info(ctx context.Context, dial Dialer, addr, section string) (map[string]string, error) {
	c, err := DialRedis(ctx, dial, addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	rep, err := c.Do(ctx, 5*time.Second, []byte("INFO"), []byte(section))
	if err != nil {
		return nil, err
	}
	return ParseInfo(rep.Str), nil
}

// ParseInfo reads INFO's text: "key:value" lines, "#" comments.
func ParseInfo(b []byte) map[string]string {
	out := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if line == "" || line[0] == '#' {
			continue
		}
		if k, v, ok := strings.Cut(line, ":"); ok {
			out[k] = v
		}
	}
	return out
}

// RedisPort is the port the lab's Redis listens on.
const RedisPort = 6379

// RedisConfPath is where each node's Redis configuration lives: in the
// node's own /var/lib/redis (lab/init.go), which redis owns, so that
// redis-server, run as redis by the agent, can read it.
const RedisConfPath = "/var/lib/redis/redis.conf"

// RedisPIDFile is where ocf:heartbeat:redis has redis-server write its
// pid (rundir /var/run/redis, the node's own /run).
const RedisPIDFile = "/run/redis/redis-server.pid"

// redisConf is the configuration every node's Redis runs with: the
// durable settings of the comparison (appendonly, appendfsync always, no
// RDB snapshots), reachable from the lab's network.
const redisConf = `# Written by vnfha's test/ckptjepsen for the lab.
bind 0.0.0.0
protected-mode no
port 6379
dir /var/lib/redis
logfile /var/lib/redis/redis-server.log
loglevel notice
appendonly yes
appendfsync always
save ""
`

// RedisOptions says how to run Redis in a lab.
type RedisOptions struct {
	// Resource names the primitive (default "redis"); its clone is
	// Resource+"-clone" and its VIP Resource+"-vip".
	Resource string
	// VIP is the address the client writes to, colocated with the
	// Promoted role.
	VIP netip.Addr
	// Nodes is the clone's clone-max: 0 runs an instance on every node.
	Nodes int
	// Monitor is the Promoted role's monitor interval (the Unpromoted
	// one's is 100 ms more: Pacemaker wants them different). Default 1 s.
	Monitor time.Duration
}

// SetupRedis writes each node's Redis configuration and creates, with
// pcs on the lab's first node, Redis as a promotable clone with
// ocf:heartbeat:redis (notify=true: the agent points the replicas at a
// new primary in its post-promote notify; migration-threshold=1: a
// killed primary moves) and an ocf:vnfha:vip on its Promoted role. It
// returns the Cluster; the caller waits with its Settle.
func SetupRedis(ctx context.Context, l *lab.Lab, o RedisOptions) (*LabCluster, error) {
	if o.Resource == "" {
		o.Resource = "redis"
	}
	if o.Monitor == 0 {
		o.Monitor = time.Second
	}
	if !o.VIP.IsValid() {
		return nil, errors.New("redis in the lab: a VIP is required")
	}
	for _, n := range l.Nodes() {
		dir := filepath.Join(l.NodeDir(n), "var-lib-redis")
		f := filepath.Join(dir, "redis.conf")
		if err := os.WriteFile(f, []byte(redisConf), 0o640); err != nil {
			return nil, fmt.Errorf("write %s's redis.conf: %w", n, err)
		}
		// The directory's owner (redis, see lab/init.go) reads it.
		fi, err := os.Stat(dir)
		if err != nil {
			return nil, err
		}
		if err := chownLike(f, fi); err != nil {
			return nil, err
		}
	}
	meta := []string{"promotable", "promoted-max=1", "notify=true"}
	if o.Nodes > 0 {
		meta = append(meta, "clone-max="+strconv.Itoa(o.Nodes))
	}
	create := append([]string{"resource", "create", o.Resource, "ocf:heartbeat:redis", "config=" + RedisConfPath,
		"op", "monitor", "interval=" + pcsInterval(o.Monitor), "role=Promoted", "timeout=30s",
		"op", "monitor", "interval=" + pcsInterval(o.Monitor+100*time.Millisecond), "role=Unpromoted", "timeout=30s",
		"meta", "migration-threshold=1"}, meta...)
	if err := createPromotable(ctx, l, create, o.Resource, o.VIP); err != nil {
		return nil, err
	}
	vipAddr := netip.AddrPortFrom(o.VIP, RedisPort).String()
	dial := Dialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		return l.Dial(ctx, lab.ClientName, network, addr)
	})
	c := &LabCluster{Lab: l, Resource: o.Resource, VIP: o.Resource + "-vip", PIDFile: RedisPIDFile, Instances: o.Nodes}
	// Settled means the primary counts every other instance as an online
	// replica (WAIT can be answered), seen through the VIP.
	c.Ready = func(ctx context.Context, primary string) string {
		ictx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		info, err := Info(ictx, dial, vipAddr, "replication")
		if err != nil {
			return err.Error()
		}
		want := len(l.Nodes()) - 1
		if c.Instances > 0 {
			want = min(want, c.Instances-1)
		}
		online := 0
		for k, v := range info {
			if strings.HasPrefix(k, "slave") && strings.Contains(v, "state=online") {
				online++
			}
		}
		if info["role"] != "master" || online < want {
			return fmt.Sprintf("redis through the VIP: role %s, %d of %d replicas online", info["role"], online, want)
		}
		return ""
	}
	return c, nil
}

// RedisStore is the client of SetupRedis's Redis: from the lab's client
// namespace, through the VIP.
func RedisStore(l *lab.Lab, vip netip.Addr) *Redis {
	return &Redis{Addr: netip.AddrPortFrom(vip, RedisPort).String(),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Dial(ctx, lab.ClientName, network, addr)
		}}
}
