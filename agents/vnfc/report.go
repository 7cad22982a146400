package vnfc

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"github.com/vnfha/vnfha/internal/controld"
	"github.com/vnfha/vnfha/ocf"
)

// report is what the supervisor (backend=process) and the unit watcher
// (backend=systemd) need to tell Pacemaker that the VNFC failed. Start
// fills it in and hands it over in the helper's spec.
type report struct {
	Instance string `json:"instance"` // OCF_RESOURCE_INSTANCE: the executor's id
	Node     string `json:"node"`
	Provider string `json:"provider,omitempty"`
	Type     string `json:"type,omitempty"`
	// FeatureSet is the cluster's CRM feature set; without it, or with
	// one this agent was not tested against, only crm_resource is used.
	FeatureSet string `json:"feature_set,omitempty"`
	// CrmResource is crm_resource's path, found by start, so that a
	// missing Pacemaker CLI fails the start, not the report.
	CrmResource string `json:"crm_resource"`
}

// newReport prepares the report of the instance env runs for.
func newReport(env *ocf.Env) (report, error) {
	bin, err := lookPath(crmResourceBin)
	if err != nil {
		return report{}, ocf.NotInstalled("fast_fail needs crm_resource: %v", err)
	}
	return report{
		Instance:    env.Instance,
		Node:        env.OnNode,
		Provider:    env.Provider,
		Type:        env.Type,
		FeatureSet:  env.FeatureSet,
		CrmResource: bin,
	}, nil
}

// Bounds of the two ways to report. The controller answers a fail request
// in a few milliseconds; crm_resource only talks to the local controller
// too, after reading the CIB.
const (
	nativeReportTimeout = time.Second
	reportTimeout       = 10 * time.Second
)

// send records a failure of the instance on the node, as a failed monitor
// would, so that Pacemaker recovers it now. It asks the controller over its
// IPC (internal/controld), the fast way, and falls back to
// "crm_resource --fail" on any error there, including a lost answer: a
// failure counted twice is better than one not reported until the next
// monitor. It returns how the failure went out.
func (r report) send(logf func(string, ...any)) (string, error) {
	if r.native() {
		ctx, cancel := context.WithTimeout(context.Background(), nativeReportTimeout)
		err := controld.Fail(ctx, controld.Failure{
			Node: r.Node, Resource: r.Instance, Class: "ocf", Provider: r.Provider, Type: r.Type,
			FeatureSet: r.FeatureSet, Client: "vnfha-vnfc",
		})
		cancel()
		if err == nil {
			return "the controller's IPC", nil
		}
		logf("report over the controller's IPC: %v; trying crm_resource", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), reportTimeout)
	defer cancel()
	args := []string{"--fail", "--resource", r.Instance}
	if r.Node != "" {
		args = append(args, "--node", r.Node)
	}
	out, err := exec.CommandContext(ctx, r.CrmResource, args...).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("crm_resource %s: %w%s", strings.Join(args, " "), err, lastLine(string(out)))
	}
	return "crm_resource", nil
}

// tell sends the report and logs how it went.
func (r report) tell(l helperLog) {
	how, err := r.send(l.Warnf)
	if err != nil {
		l.Errorf("report the failure to Pacemaker: %v; the next monitor will find it", err)
		return
	}
	l.Infof("reported the failure of %s on %s to Pacemaker through %s", r.Instance, r.Node, how)
}

// native reports whether the controller's IPC may be used: Pacemaker told
// the agent everything the request needs, and its feature set is one of
// Pacemaker 2's (3.x), whose fail request this client speaks.
func (r report) native() bool {
	return r.Instance != "" && r.Node != "" && r.Type != "" && strings.HasPrefix(r.FeatureSet, "3.")
}
