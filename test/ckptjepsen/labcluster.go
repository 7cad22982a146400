package ckptjepsen

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vnfha/vnfha/crmwrap/crmmon"
	"github.com/vnfha/vnfha/lab"
)

// LabCluster is a Cluster in a lab: the store runs as a promotable clone
// (one instance a node) with a VIP colocated with its Promoted role;
// PowerLoss is the lab's power loss of the node (fencing on), ProcessKill
// a SIGKILL of the process whose pid file is PIDFile on the node.
type LabCluster struct {
	Lab *lab.Lab
	// Resource is the clone's primitive (the clone is Resource+"-clone",
	// pcs's name); VIP the vip resource on its Promoted role.
	Resource, VIP string
	// PIDFile holds, inside a node, the pid of the store's process.
	PIDFile string
	// KillProcess, if set, is ProcessKill instead of the PIDFile's.
	KillProcess func(ctx context.Context, node string) error
	// Instances is the clone's clone-max; 0: one on every node.
	Instances int
	// Ready, if set, says what the store itself lacks on a settled
	// cluster (say, a standby not yet caught up), or "".
	Ready func(ctx context.Context, primary string) string
	// SettleTimeout bounds Settle. Default 3 minutes.
	SettleTimeout time.Duration
	// Log receives progress lines; nil discards them.
	Log func(format string, args ...any)
}

func (c *LabCluster) logf(format string, args ...any) {
	if c.Log != nil {
		c.Log(format, args...)
	}
}

// Settle waits until every node is up and online, the clone has an
// instance on each, one Promoted with the VIP beside it, no failure is
// recorded and the cluster has nothing left to do, and Ready finds
// nothing missing. It returns the Promoted instance's node.
func (c *LabCluster) Settle(ctx context.Context) (string, error) {
	timeout := c.SettleTimeout
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Lab.WaitReady(ctx); err != nil {
		return "", fmt.Errorf("lab not ready: %w", err)
	}
	waited := false
	var why string
	for {
		st, err := c.Lab.Status(ctx, "")
		primary := ""
		if err != nil {
			why = err.Error()
		} else {
			primary, why = c.placement(st)
		}
		if primary != "" && !waited && st.Summary.DCName != "" {
			// Let the cluster finish what it does (a probe after a
			// cleanup, a notify), then look again.
			if out, err := c.Lab.Exec(ctx, st.Summary.DCName, "crm_resource", "--wait", "--timeout", "60s"); err != nil {
				why = fmt.Sprintf("crm_resource --wait: %v: %s", err, out)
			}
			waited = true
			continue
		}
		if primary != "" && c.Ready != nil {
			why = c.Ready(ctx, primary)
		}
		if primary != "" && why == "" {
			return primary, nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s not settled within %s: %s", c.Resource, timeout, why)
		case <-time.After(300 * time.Millisecond):
		}
	}
}

// placement returns the Promoted instance's node when the clone and the
// VIP run as Settle wants, or why not.
func (c *LabCluster) placement(st *crmmon.Status) (string, string) {
	for _, f := range st.Failures {
		if strings.HasPrefix(f.OpKey, c.Resource+"_") || strings.HasPrefix(f.OpKey, c.VIP+"_") {
			return "", fmt.Sprintf("failure %s on %s", f.OpKey, f.Node)
		}
	}
	online := 0
	for _, n := range st.Nodes {
		if n.Online {
			online++
		}
	}
	if online != len(c.Lab.Nodes()) {
		return "", fmt.Sprintf("%d of %d nodes online", online, len(c.Lab.Nodes()))
	}
	roles := map[string]string{}
	vipOn := ""
	for _, i := range st.Instances() {
		if i.ID != c.Resource && i.ID != c.VIP {
			continue
		}
		if !i.Active {
			continue
		}
		if i.Failed || i.Pending != "" || len(i.Nodes) != 1 {
			return "", fmt.Sprintf("%s: %s on %v (pending %q, failed %v)", i.ID, i.Role, i.NodeNames(), i.Pending, i.Failed)
		}
		on := i.Nodes[0].Name
		if i.ID == c.VIP {
			vipOn = on
			continue
		}
		if roles[on] != "" {
			return "", fmt.Sprintf("two instances of %s on %s", c.Resource, on)
		}
		roles[on] = i.Role
	}
	primary := ""
	for node, role := range roles {
		switch role {
		case "Promoted":
			if primary != "" {
				return "", fmt.Sprintf("%s promoted on %s and %s", c.Resource, primary, node)
			}
			primary = node
		case "Unpromoted":
		default:
			return "", fmt.Sprintf("%s is %s on %s", c.Resource, role, node)
		}
	}
	want := online
	if c.Instances > 0 {
		want = min(want, c.Instances)
	}
	switch {
	case len(roles) != want:
		return "", fmt.Sprintf("%s runs on %d nodes, not %d: %v", c.Resource, len(roles), want, roles)
	case primary == "":
		return "", fmt.Sprintf("%s promoted nowhere: %v", c.Resource, roles)
	case vipOn != primary:
		return "", fmt.Sprintf("%s on %q, %s promoted on %s", c.VIP, vipOn, c.Resource, primary)
	}
	return primary, ""
}

// Inject fails node: PowerLoss powers it off (lab.Lab.Kill),
// ProcessKill sends SIGKILL to the pid in PIDFile there.
func (c *LabCluster) Inject(ctx context.Context, node string, f Fault) error {
	switch f {
	case PowerLoss:
		return c.Lab.Kill(node)
	case ProcessKill:
		if c.KillProcess != nil {
			return c.KillProcess(ctx, node)
		}
		// The pid file is the node's own (its /run); the pid, its PID
		// namespace's.
		out, err := c.Lab.Exec(ctx, node, "sh", "-c", `pid=$(cat "$1") && [ -n "$pid" ] && kill -9 "$pid"`, "kill", c.PIDFile)
		if err != nil {
			return fmt.Errorf("kill the process of %s on %s: %w: %s", c.PIDFile, node, err, out)
		}
		return nil
	}
	return fmt.Errorf("unknown fault %q", f)
}

// Restore powers node on again after a PowerLoss; after either fault it
// clears the failures recorded for the resource on every node (node's
// own, and any a failover left, such as a start that timed out), so that
// migration-threshold lets it run everywhere again.
func (c *LabCluster) Restore(ctx context.Context, node string, f Fault) error {
	if f == PowerLoss {
		if err := c.Lab.Start(node); err != nil {
			return err
		}
		c.logf("%s powered on", node)
		// A node that just booted has no failure to clear; the cleanup
		// below runs from another node anyway.
	}
	from := ""
	for _, n := range c.Lab.Nodes() {
		if n != node {
			from = n
			break
		}
	}
	if out, err := c.Lab.Exec(ctx, from, "crm_resource", "--cleanup", "--resource", c.Resource); err != nil {
		return fmt.Errorf("clean up %s: %w: %s", c.Resource, err, out)
	}
	return nil
}

// Primary is where the clone is Promoted now, "" if nowhere.
func (c *LabCluster) Primary(ctx context.Context) (string, error) {
	st, err := c.Lab.Status(ctx, "")
	if err != nil {
		return "", err
	}
	for _, i := range st.Instances() {
		if i.ID == c.Resource && i.Active && i.Role == "Promoted" && len(i.Nodes) == 1 {
			return i.Nodes[0].Name, nil
		}
	}
	return "", nil
}

// Quorate waits until every node is online (quorum, a DC, fencing able)
// and the clone is Promoted on one node with the VIP started beside it,
// whatever the other instances do (starting, catching up, stopped), and
// returns the Promoted instance's node.
func (c *LabCluster) Quorate(ctx context.Context) (string, error) {
	timeout := c.SettleTimeout
	if timeout == 0 {
		timeout = 3 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.Lab.WaitReady(ctx); err != nil {
		return "", fmt.Errorf("lab not ready: %w", err)
	}
	var why string
	for {
		st, err := c.Lab.Status(ctx, "")
		if err != nil {
			why = err.Error()
		} else {
			primary, vipOn := "", ""
			for _, i := range st.Instances() {
				if !i.Active || i.Failed || i.Pending != "" || len(i.Nodes) != 1 {
					continue
				}
				switch {
				case i.ID == c.Resource && i.Role == "Promoted":
					primary = i.Nodes[0].Name
				case i.ID == c.VIP && i.Role == "Started":
					vipOn = i.Nodes[0].Name
				}
			}
			if primary != "" && primary == vipOn {
				return primary, nil
			}
			why = fmt.Sprintf("%s promoted on %q, %s on %q", c.Resource, primary, c.VIP, vipOn)
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("%s has no primary with its VIP within %s: %s", c.Resource, timeout, why)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
