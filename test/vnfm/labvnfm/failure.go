package labvnfm

import (
	"context"
	"encoding/xml"
	"fmt"
	"net/url"

	"github.com/vnfha/vnfha/lab"
)

// cibStatus is the part of the CIB's status section FailureID reads: each
// node's resource histories.
type cibStatus struct {
	Nodes []struct {
		Uname string `xml:"uname,attr"`
		Rscs  []struct {
			ID  string `xml:"id,attr"`
			Ops []struct {
				ID       string `xml:"id,attr"`
				CallID   string `xml:"call-id,attr"`
				RCChange string `xml:"last-rc-change,attr"`
				OpKey    string `xml:"operation_key,attr"`
			} `xml:"lrm_rsc_op"`
		} `xml:"lrm>lrm_resources>lrm_resource"`
	} `xml:"node_state"`
}

// Failure is the CIB's record of the newest failure of a resource on a
// node (<rsc>_last_failure_0).
type Failure struct {
	CallID, RCChange string
	// OpKey is the failed operation (web_monitor_10000, web_asyncmon_0).
	OpKey string
}

// ID is the id the failure's vnfc.failed event carries, as docs/bridge.md
// gives it: <cluster>/<resource>/<node>/failed/<call-id>-<rc-change>.
func (f Failure) ID(cluster, rsc, node string) string {
	return fmt.Sprintf("%s/%s/%s/failed/%s-%s", cluster, url.PathEscape(rsc), url.PathEscape(node), f.CallID, f.RCChange)
}

// LastFailure reads, from the CIB as node from has it, the failure record
// of rsc (the primitive's id, a clone's too) on node; ok is false when
// there is none.
func LastFailure(ctx context.Context, l *lab.Lab, from, rsc, node string) (f Failure, ok bool, err error) {
	out, err := l.Exec(ctx, from, "cibadmin", "--query", "--scope", "status")
	if err != nil {
		return Failure{}, false, fmt.Errorf("cibadmin --query --scope status on %s: %w", from, err)
	}
	var st cibStatus
	if err := xml.Unmarshal(out, &st); err != nil {
		return Failure{}, false, fmt.Errorf("the CIB's status: %w: %.500s", err, out)
	}
	for _, ns := range st.Nodes {
		if ns.Uname != node {
			continue
		}
		for _, r := range ns.Rscs {
			if r.ID != rsc {
				continue
			}
			for _, op := range r.Ops {
				if op.ID == rsc+"_last_failure_0" {
					return Failure{CallID: op.CallID, RCChange: op.RCChange, OpKey: op.OpKey}, true, nil
				}
			}
		}
	}
	return Failure{}, false, nil
}
