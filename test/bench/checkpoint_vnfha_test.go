package bench

import (
	"context"
	"net/netip"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/test/ckptjepsen"
)

// vnfhaStore: vnfha's checkpoint store as a promotable clone of
// ocf:vnfha:checkpoint (sync_mode strict, sync_replicas 1), a primary and
// one standby on two nodes (clone-max 2: the third node's replica is
// marked stale, as Redis's WAIT 1 waits for one replica), an ocf:vnfha:vip
// on the Promoted role; a put is PUT /v1/checkpoints/{key} on the client
// API (api_listen, TCP) through the VIP, one keep-alive connection a
// client. For the failover the clone gets an instance on every node
// (clone-max 3), as Redis's does.
var vnfhaStore = checkpointStore{
	name: "vnfha",
	durability: "PUT answered 200/201: in the primary's log (fdatasync) and in the log (fdatasync) of every " +
		"other replica, or that replica durably marked stale in the CIB first (it can then not be promoted)",
	setup: cloneSetup(123, func(ctx context.Context, l *lab.Lab, vip netip.Addr) (*ckptjepsen.LabCluster, error) {
		return ckptjepsen.SetupCheckpoint(ctx, l, ckptjepsen.CheckpointOptions{Resource: "bckpt", VIP: vip, Nodes: 2})
	}, func(l *lab.Lab, vip netip.Addr) ckptjepsen.Store {
		return ckptjepsen.CheckpointStore(l, vip, ckptjepsen.CheckpointPort)
	}),
}
