package ckptjepsen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/lab"
)

// CheckpointPort is the TCP port of the lab's checkpoint store's client
// API (api_listen=:CheckpointPort on every replica; the VIP reaches the
// primary's).
const CheckpointPort = 8420

// CheckpointOptions says how to run vnfha's checkpoint store in a lab.
type CheckpointOptions struct {
	// Resource names the primitive (default "ckpt"); its clone is
	// Resource+"-clone" and its VIP Resource+"-vip". Its data_dir is
	// /var/lib/vnfha/checkpoint/Resource, its log
	// /var/log/pacemaker/Resource.log on each node.
	Resource string
	// VIP is the address the client writes to, colocated with the
	// Promoted role.
	VIP netip.Addr
	// Binary is the vnfha the agent runs as the store (its binary
	// parameter); default the lab's own.
	Binary string
	// SyncMode is the sync_mode parameter; "" leaves the agent's default
	// (strict).
	SyncMode string
	// Nodes is the clone's clone-max: 0 runs an instance on every node.
	Nodes int
	// Monitor is the Promoted role's monitor interval (the Unpromoted
	// one's is 1 s more). Default 1 s.
	Monitor time.Duration
}

func (o *CheckpointOptions) defaults(l *lab.Lab) error {
	if o.Resource == "" {
		o.Resource = "ckpt"
	}
	if o.Binary == "" {
		o.Binary = l.Binary()
	}
	if o.Monitor == 0 {
		o.Monitor = time.Second
	}
	if !o.VIP.IsValid() {
		return errors.New("the checkpoint store in the lab: a VIP is required")
	}
	return nil
}

// CheckpointDataDir is where the lab's store named resource keeps its
// data on each node.
func CheckpointDataDir(resource string) string { return "/var/lib/vnfha/checkpoint/" + resource }

// SetupCheckpoint creates, with pcs on the lab's first node, vnfha's
// checkpoint store as a promotable clone of ocf:vnfha:checkpoint
// (notify=true: the standbys follow a new primary from its post-promote
// notify; migration-threshold=1: a killed primary moves), its client API
// on TCP port CheckpointPort of every address, and an ocf:vnfha:vip on its
// Promoted role, started after the promote. It returns the Cluster; the
// caller waits with its Settle, which also wants every standby in the
// primary's synchronous set (GET /v1/status through the VIP). ProcessKill
// kills the store (SIGKILL of "BINARY checkpoint serve" on the node), not
// its supervisor, which reports the exit to Pacemaker.
func SetupCheckpoint(ctx context.Context, l *lab.Lab, o CheckpointOptions) (*LabCluster, error) {
	if err := o.defaults(l); err != nil {
		return nil, err
	}
	params := []string{"data_dir=" + CheckpointDataDir(o.Resource), "binary=" + o.Binary,
		"api_listen=:" + strconv.Itoa(CheckpointPort), "log_file=/var/log/pacemaker/" + o.Resource + ".log"}
	if o.SyncMode != "" {
		params = append(params, "sync_mode="+o.SyncMode)
	}
	meta := []string{"promotable", "promoted-max=1", "notify=true"}
	if o.Nodes > 0 {
		meta = append(meta, "clone-max="+strconv.Itoa(o.Nodes))
	}
	create := append([]string{"resource", "create", o.Resource, "ocf:vnfha:checkpoint"}, params...)
	create = append(create, "op", "monitor", "interval="+pcsInterval(o.Monitor), "role=Promoted", "timeout=20s",
		"op", "monitor", "interval="+pcsInterval(o.Monitor+time.Second), "role=Unpromoted", "timeout=20s",
		"meta", "migration-threshold=1")
	if err := createPromotable(ctx, l, append(create, meta...), o.Resource, o.VIP); err != nil {
		return nil, err
	}
	store := CheckpointStore(l, o.VIP, CheckpointPort)
	c := &LabCluster{Lab: l, Resource: o.Resource, VIP: o.Resource + "-vip", Instances: o.Nodes}
	c.KillProcess = func(ctx context.Context, node string) error {
		// The store, not the supervisor ("vnfha-agent --helper vnfc
		// supervise"): its exit is what the supervisor reports.
		out, err := l.Exec(ctx, node, "pkill", "-9", "-f", "^"+o.Binary+" checkpoint serve")
		if err != nil {
			return fmt.Errorf("kill the store on %s: %w: %s", node, err, out)
		}
		return nil
	}
	// Settled means the store behind the VIP is the primary Pacemaker
	// promoted, writable, with every other instance in its synchronous
	// set: a failover from here loses nothing that was acknowledged.
	c.Ready = func(ctx context.Context, primary string) string {
		sctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		st, err := store.Status(sctx)
		if err != nil {
			return err.Error()
		}
		want := len(l.Nodes()) - 1
		if c.Instances > 0 {
			want = min(want, c.Instances-1)
		}
		return checkpointSettled(st, primary, want)
	}
	return c, nil
}

// checkpointSettled says what st, the status of the store behind the VIP,
// lacks to be the settled primary on node primary with want standbys in
// its synchronous set, or "".
func checkpointSettled(st checkpoint.Status, primary string, want int) string {
	var sync, not []string
	for _, s := range st.Standbys {
		if s.Sync {
			sync = append(sync, s.Node)
		} else {
			not = append(not, fmt.Sprintf("%s (acked %d)", s.Node, s.Acked))
		}
	}
	switch {
	case st.Role != checkpoint.RolePrimary || st.Node != primary:
		return fmt.Sprintf("the store behind the VIP is %s on %q, Pacemaker promoted %s", st.Role, st.Node, primary)
	case !st.Writable:
		return fmt.Sprintf("the primary on %s is not writable: %s", st.Node, st.Unwritable)
	case len(sync) < want:
		return fmt.Sprintf("the primary on %s at %d/%d has %d of %d standbys in its synchronous set %v; not: %v",
			st.Node, st.Position.Epoch, st.Position.Rev, len(sync), want, sync, not)
	}
	return ""
}

// pcsInterval is d as pcs takes it: pcs reads "1s" and "1100ms" as two
// intervals but "1000ms" and "1100ms" as one (both rounded its way).
func pcsInterval(d time.Duration) string {
	if d%time.Second == 0 {
		return strconv.FormatInt(int64(d/time.Second), 10) + "s"
	}
	return strconv.FormatInt(d.Milliseconds(), 10) + "ms"
}

// Status is GET /v1/status of the store at Base.
func (c *Checkpoint) Status(ctx context.Context) (checkpoint.Status, error) {
	var st checkpoint.Status
	resp, b, err := c.do(ctx, http.MethodGet, "/v1/status", nil)
	if err != nil {
		return st, err
	}
	if resp.StatusCode != http.StatusOK {
		return st, fmt.Errorf("GET /v1/status: %s: %s", resp.Status, clip(b))
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, fmt.Errorf("GET /v1/status: %w", err)
	}
	return st, nil
}

// createPromotable runs, with pcs on the lab's first node, create (the
// promotable clone of resource), then an ocf:vnfha:vip on vip named
// resource+"-vip", colocated with the clone's Promoted role and started
// after the promote.
func createPromotable(ctx context.Context, l *lab.Lab, create []string, resource string, vip netip.Addr) error {
	clone, vipRsc := resource+"-clone", resource+"-vip"
	for _, args := range [][]string{
		create,
		// Disabled until the constraints hold it to the Promoted instance.
		{"resource", "create", vipRsc, "ocf:vnfha:vip", "ip=" + vip.String(), "cidr_netmask=24",
			"op", "monitor", "interval=1s", "--disabled"},
		{"constraint", "colocation", "add", vipRsc, "with", "Promoted", clone, "INFINITY"},
		{"constraint", "order", "promote", clone, "then", "start", vipRsc},
		{"resource", "enable", vipRsc},
	} {
		if out, err := l.Exec(ctx, l.Nodes()[0], append([]string{"pcs"}, args...)...); err != nil {
			return fmt.Errorf("pcs %s: %w: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
