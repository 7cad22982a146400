// Package failreport tells Pacemaker that a resource failed on this node,
// from a helper that watches it (vnfc's supervisor and unit watcher, vip's
// announcer), without waiting for the next monitor. The failure is
// recorded as a failed monitor would record it, so Pacemaker recovers the
// resource at once.
//
// It asks the local controller over its IPC (internal/controld), the fast
// way, and falls back to "crm_resource --fail" on any error there.
package failreport

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/vnfha/vnfha/internal/controld"
	"github.com/vnfha/vnfha/internal/qbipc"
	"github.com/vnfha/vnfha/ocf"
)

// Report is what a helper needs to tell Pacemaker that its resource
// failed. The agent's start fills it in from its environment and hands it
// over in the helper's spec, as JSON.
type Report struct {
	Instance string `json:"instance"` // OCF_RESOURCE_INSTANCE: the executor's id
	Node     string `json:"node"`
	Provider string `json:"provider,omitempty"`
	Type     string `json:"type,omitempty"`
	// FeatureSet is the cluster's CRM feature set; without it, or with
	// one this client was not tested against, only crm_resource is used.
	FeatureSet string `json:"feature_set,omitempty"`
	// CrmResource is crm_resource's path, found by start, so that a
	// missing Pacemaker CLI fails the start, not the report.
	CrmResource string `json:"crm_resource"`
	// Client names the reporter to the controller (its IPC client name,
	// which the controller logs).
	Client string `json:"client,omitempty"`
}

// New prepares the report of the instance env runs for. crmResource is the
// path of crm_resource, the fallback; client names the reporter in the
// controller's log ("vnfha-vnfc").
func New(env *ocf.Env, crmResource, client string) Report {
	return Report{
		Instance:    env.Instance,
		Node:        env.OnNode,
		Provider:    env.Provider,
		Type:        env.Type,
		FeatureSet:  env.FeatureSet,
		CrmResource: crmResource,
		Client:      client,
	}
}

// Bounds of the two ways to report. The controller answers a fail request
// in a few milliseconds; crm_resource only talks to the local controller
// too, after reading the CIB.
const (
	nativeTimeout = time.Second
	cliTimeout    = 10 * time.Second
)

// Send records the failure. It asks the controller over its IPC, and falls
// back to "crm_resource --fail" on any error there, including a lost
// answer: a failure counted twice is better than one not reported until
// the next monitor. The one exception is a controller's socket served by a
// process that is not Pacemaker's (qbipc.ErrNotAuthentic): no
// crm_resource is run to talk to it. logf hears why the fallback was
// taken. Send returns how the failure went out.
func (r Report) Send(logf func(string, ...any)) (string, error) {
	if r.Native() {
		ctx, cancel := context.WithTimeout(context.Background(), nativeTimeout)
		client := r.Client
		if client == "" {
			client = "vnfha"
		}
		err := controld.Fail(ctx, controld.Failure{
			Node: r.Node, Resource: r.Instance, Class: "ocf", Provider: r.Provider, Type: r.Type,
			FeatureSet: r.FeatureSet, Client: client,
		})
		cancel()
		if err == nil {
			return "the controller's IPC", nil
		}
		if errors.Is(err, qbipc.ErrNotAuthentic) {
			// Another user's process holds the controller's name, so
			// the controller is not running, and crm_resource would
			// reach the same process: its libqb opens, truncates and
			// may unlink, as root, the files that process names, before
			// Pacemaker checks who it is.
			return "", fmt.Errorf("report over the controller's IPC: %w; crm_resource, which would talk to it too, is not run", err)
		}
		logf("report over the controller's IPC: %v; trying crm_resource", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cliTimeout)
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

// Logger is the log a helper reports into.
type Logger interface {
	Infof(format string, args ...any)
	Warnf(format string, args ...any)
	Errorf(format string, args ...any)
}

// Tell sends the report and logs how it went, and by how much the report
// raises the resource's fail count on this node (see FailCountRise), so
// that an operator reading the log can tell why crm_mon shows 2 after one
// crash.
func (r Report) Tell(l Logger) {
	how, err := r.Send(l.Warnf)
	if err != nil {
		l.Errorf("report the failure to Pacemaker: %v; the next monitor will find it", err)
		return
	}
	l.Infof("reported the failure of %s on %s to Pacemaker through %s%s", r.Instance, r.Node, how, riseNote(FailCountRise(r.FeatureSet)))
}

// riseNote is what Tell adds about the fail count.
func riseNote(lo, hi int) string {
	switch {
	case lo == 1 && hi == 2:
		return "; Pacemaker before 2.1.6 adds 2 to the fail count for it, or 1 when its two increments race"
	case lo == 1 && hi == 1:
		return "; fail count +1"
	}
	return ""
}

// FailCountRise says by how much one report raises the resource's fail
// count on the node, at least lo and at most hi, for a cluster whose DC has
// the CRM feature set featureSet (the report's FeatureSet:
// OCF_RESKEY_crm_feature_set, which the DC's scheduler puts in every
// action); 0, 0 when featureSet is not one.
//
// A report is recorded by the local controller as one failed operation,
// "asyncmon" with interval 0, whatever the request asks for
// (controld_execd.c, fail_lrm_resource). A failed operation of interval 0
// is written to the CIB as two history entries in one update, <rsc>_last_0
// and <rsc>_last_failure_0 (pcmk__create_history_xml). Up to Pacemaker
// 2.1.5 (feature set 3.16.1), the DC's controller asks the attribute
// manager for one "value++" for each entry of an operation from outside
// the cluster (controld_te_events.c, process_graph_event and
// update_failcount): 2 per report, or 1 when the attribute manager expands
// the second increment before its own broadcast of the first has come
// back to it (attrd_client_update: both read the old value). Pacemaker
// 2.1.6 (feature set 3.17.4) sends one increment per update (commit
// a457eb83fe, "Don't double-increment failcount for simulated
// failures"). That commit came in while the development feature set was
// 3.17.0, and the first feature set of a tree that holds it is 3.17.3, so
// anything below 3.17.4, the first release's, may count twice.
//
// A feature set is two or three numbers ("3.16.1", "3.2"), digits only.
func FailCountRise(featureSet string) (lo, hi int) {
	v, ok := parseFeatureSet(featureSet)
	if !ok {
		return 0, 0
	}
	if lessVersion(v, [3]int{3, 17, 4}) {
		return 1, 2
	}
	return 1, 1
}

// parseFeatureSet reads "X.Y" or "X.Y.Z" (a missing Z is 0).
func parseFeatureSet(s string) (v [3]int, ok bool) {
	parts := strings.Split(s, ".")
	if len(parts) < 2 || len(parts) > 3 {
		return v, false
	}
	for i, p := range parts {
		if p == "" || len(p) > 9 || strings.Trim(p, "0123456789") != "" {
			return v, false
		}
		v[i], _ = strconv.Atoi(p)
	}
	return v, true
}

func lessVersion(a, b [3]int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] < b[i]
		}
	}
	return false
}

// Native reports whether the controller's IPC may be used: Pacemaker told
// the agent everything the request needs, and its feature set is one of
// Pacemaker 2's (3.x), whose fail request this client speaks.
func (r Report) Native() bool {
	return r.Instance != "" && r.Node != "" && r.Type != "" && strings.HasPrefix(r.FeatureSet, "3.")
}

// lastLine is the last line of a command's output, as ": line", or "".
func lastLine(out string) string {
	out = strings.TrimSpace(out)
	if i := strings.LastIndexByte(out, '\n'); i >= 0 {
		out = out[i+1:]
	}
	if out == "" {
		return ""
	}
	return ": " + ocf.Quote(out)
}
