package lab

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/crmwrap/crmmon"
)

// readyPoll is how often WaitReady asks crm_mon. Readiness has no event to
// wait on from outside the cluster, and crm_mon costs a few milliseconds.
const readyPoll = 200 * time.Millisecond

// Status returns crm_mon's view of the cluster from a node, or from the
// first running node when node is "".
func (l *Lab) Status(ctx context.Context, node string) (*crmmon.Status, error) {
	if node == "" {
		for _, n := range l.st.Nodes {
			if l.running(n) {
				node = n
				break
			}
		}
		if node == "" {
			return nil, fmt.Errorf("lab %s: every node is off", l.st.Name)
		}
	}
	return crmwrap.New(l.Runner(node)).Status(ctx)
}

// WaitReady waits until the cluster has a DC and quorum, every running node
// sees every running node online (in the view of each of them: a node that
// just booted must have joined, not merely be seen by the others), and the
// fence device, if the lab has one, is started.
func (l *Lab) WaitReady(ctx context.Context) error {
	return l.waitReady(ctx, l.st.Fencing)
}

// WaitOnline is WaitReady without the fence device: for a node that
// rejoins while the cluster is in maintenance mode, where nothing is
// started, the fence device included.
func (l *Lab) WaitOnline(ctx context.Context) error {
	return l.waitReady(ctx, false)
}

func (l *Lab) waitReady(ctx context.Context, fence bool) error {
	var last string
	for {
		ok, why := l.ready(ctx, fence)
		if ok {
			return nil
		}
		last = why
		select {
		case <-ctx.Done():
			return fmt.Errorf("cluster not ready: %s: %w", last, ctx.Err())
		case <-time.After(readyPoll):
		}
	}
}

func (l *Lab) ready(ctx context.Context, fence bool) (bool, string) {
	var up []string
	for _, n := range l.st.Nodes {
		if l.running(n) {
			up = append(up, n)
		}
	}
	if len(up) == 0 {
		return false, "every node is off"
	}
	for _, viewer := range up {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		st, err := crmwrap.New(l.Runner(viewer)).Status(cctx)
		cancel()
		if err != nil {
			return false, fmt.Sprintf("%s: %v", viewer, firstLine(err.Error()))
		}
		if !st.Quorate() {
			return false, fmt.Sprintf("%s: no DC with quorum yet", viewer)
		}
		for _, n := range up {
			if node, ok := st.Node(n); !ok || !node.Online {
				return false, fmt.Sprintf("%s does not see %s online yet", viewer, n)
			}
		}
		if fence && !fenceDeviceStarted(st) {
			return false, fmt.Sprintf("%s: fence device %s not started yet", viewer, fenceDeviceID)
		}
	}
	return true, ""
}

// fenceDeviceStarted: a lab that fences by default is ready only when it
// can fence.
func fenceDeviceStarted(st *crmmon.Status) bool {
	for _, i := range st.Instances() {
		if i.ID == fenceDeviceID && i.Active && i.Role == "Started" {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
