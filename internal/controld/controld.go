// Package controld asks the local Pacemaker controller (pacemaker-controld)
// to record a resource failure, as "crm_resource --fail" does, over the
// controller's IPC (internal/qbipc) instead of through the crm_resource
// binary. It is what the vnfc agent's supervisor uses the moment a VNFC
// exits: crm_resource spends some 35 ms starting and computing the whole
// cluster state before it sends the same request; this reaches the
// controller 2-8 ms after the VNFC's exit (measured in the lab).
//
// The request and its reply are the ones Pacemaker 2.1's crm_resource
// exchanges with the controller (lib/common/ipc_controld.c,
// controller_resource_op; daemons/controld/controld_execd.c,
// fail_lrm_resource). They are internal to Pacemaker, so the caller keeps
// crm_resource as the fallback for any error.
package controld

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/internal/pcmkipc"
	"github.com/vnfha/vnfha/internal/qbipc"
)

// Service is the controller's IPC service name (CRM_SYSTEM_CRMD).
const Service = "crmd"

// maxMsgSize is what the client asks for; the controller's own buffer size
// (PCMK_ipc_buffer, 128 KiB by default) wins when larger.
const maxMsgSize = 128 << 10

// Failure names the resource instance whose failure to record, as
// crm_resource --fail takes it, plus what crm_resource would have looked up
// in the CIB.
type Failure struct {
	Node string // the node the resource failed on: this node's name
	// Resource is the executor's resource id, OCF_RESOURCE_INSTANCE of a
	// running resource. The controller registers an id it does not know
	// and records its failure all the same (seen with Pacemaker 2.1.5),
	// which leaves an orphan for the scheduler to clean up: crm_resource
	// looks the id up in the CIB first, this does not.
	Resource string
	Class    string // "ocf"
	Provider string // OCF_RESOURCE_PROVIDER
	Type     string // OCF_RESOURCE_TYPE
	// FeatureSet is the cluster's CRM feature set, which the controller
	// records with the failed operation; OCF_RESKEY_crm_feature_set.
	FeatureSet string
	// Client names the sender in the controller's log.
	Client string
}

func (f Failure) check() error {
	for _, v := range []struct{ name, val string }{
		{"node", f.Node}, {"resource", f.Resource}, {"class", f.Class}, {"type", f.Type},
		{"feature set", f.FeatureSet}, {"client", f.Client},
	} {
		if v.val == "" {
			return fmt.Errorf("controld: fail request without %s", v.name)
		}
	}
	return nil
}

// ErrRejected is wrapped by Fail when the controller answered that it did
// not record the failure.
var ErrRejected = errors.New("controller did not record the failure")

// Fail asks the local controller to record a failure of f.Resource on
// f.Node now, and waits for its answer: nil means the failed operation is
// on its way to the CIB, as after a successful crm_resource --fail.
func Fail(ctx context.Context, f Failure) error {
	if err := f.check(); err != nil {
		return err
	}
	req, ref, err := failRequest(f)
	if err != nil {
		return err
	}
	conn, err := qbipc.Dial(ctx, Service, maxMsgSize)
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.Send(ctx, pcmkipc.Frame(nextID(), 0, req)); err != nil {
		return fmt.Errorf("controld: send fail request: %w", err)
	}
	for {
		msg, err := conn.ReceiveEvent(ctx)
		if err != nil {
			return fmt.Errorf("controld: wait for the answer to %s: %w", ref, err)
		}
		_, text, err := pcmkipc.Unframe(msg)
		if err != nil {
			return fmt.Errorf("controld: %w", err)
		}
		done, err := failAnswer(text, f.Resource)
		if done {
			return err
		}
	}
}

var requestID atomic.Uint32

func nextID() uint32 { return requestID.Add(1) }

var refCounter atomic.Uint32

// failRequest is the lrm_fail request crm_resource sends (create_request
// around controller_resource_op's rsc_op), and its reference.
func failRequest(f Failure) ([]byte, string, error) {
	const task = "lrm_fail"
	ref := fmt.Sprintf("%s-%s-%d-%d", task, f.Client, time.Now().Unix(), refCounter.Add(1)-1)
	doc := etree.NewDocument()
	r := doc.CreateElement("create_request_adv")
	r.CreateAttr("origin", "vnfha")
	r.CreateAttr("t", "crmd")
	r.CreateAttr("version", f.FeatureSet)
	r.CreateAttr("subt", "request")
	r.CreateAttr("reference", ref)
	r.CreateAttr("crm_task", task)
	r.CreateAttr("crm_sys_to", "crmd")
	// The controller replaces this with its own id for the connection.
	r.CreateAttr("crm_sys_from", f.Client)
	r.CreateAttr("crm_host_to", f.Node)
	// The controller records the failure as an operation named asyncmon
	// with interval 0, whatever the request names (fail_lrm_resource:
	// construct_op(..., "asyncmon"), then interval_ms = 0), and drops the
	// transition key; an operation="monitor" interval="10000" here was seen
	// recorded as app_asyncmon_0 all the same (Pacemaker 2.1.5). Before
	// Pacemaker 2.1.6 such a failure adds 2, or 1, to the fail count: see
	// internal/failreport, FailCountRise.
	op := r.CreateElement("crm_xml").CreateElement("rsc_op")
	// The controller logs a transition key from the request; this is the
	// placeholder crm_resource uses (pcmk__transition_key(0, getpid(), 0,
	// ...), action first: "PID:0:0:..."), so the log reads the same.
	op.CreateAttr("transition-key", strconv.Itoa(os.Getpid())+":0:0:xxxxxxxx-xrsc-opxx-xcrm-resourcexxxx")
	op.CreateAttr("on_node", f.Node)
	p := op.CreateElement("primitive")
	p.CreateAttr("id", f.Resource)
	p.CreateAttr("class", f.Class)
	if f.Provider != "" {
		p.CreateAttr("provider", f.Provider)
	}
	p.CreateAttr("type", f.Type)
	a := op.CreateElement("attributes")
	a.CreateAttr("crm_feature_set", f.FeatureSet)
	a.CreateAttr("CRM_meta_timeout", "60000")
	doc.WriteSettings.CanonicalAttrVal = true
	text, err := doc.WriteToBytes()
	if err != nil {
		return nil, "", fmt.Errorf("controld: encode fail request: %w", err)
	}
	return text, ref, nil
}

// failAnswer reads one message from the controller. The answer to lrm_fail
// is an lrm_invoke message holding the faked operation's history entry
// (controld_ack_event_directly): rc-code 0 and op-status 0 when the failure
// was recorded. done is false for a message that is not that answer.
func failAnswer(text []byte, rsc string) (done bool, err error) {
	doc := etree.NewDocument()
	if err := doc.ReadFromBytes(text); err != nil {
		// The parser's message may quote the input, and the supervisor
		// logs it: keep it short and printable.
		return true, fmt.Errorf("controld: parse the controller's answer: %.120q", err.Error())
	}
	root := doc.Root()
	if root == nil || root.SelectAttrValue("crm_task", "") != "lrm_invoke" {
		return false, nil
	}
	var op *etree.Element
	for _, r := range root.FindElements("./crm_xml//lrm_resource") {
		if r.SelectAttrValue("id", "") == rsc {
			op = r.FindElement("./lrm_rsc_op")
		}
	}
	if op == nil {
		return false, nil
	}
	rc, status := op.SelectAttrValue("rc-code", ""), op.SelectAttrValue("op-status", "")
	if rc == "0" && status == "0" {
		return true, nil
	}
	reason := op.SelectAttrValue("exit-reason", "")
	return true, fmt.Errorf("controld: %w: rc-code %s, op-status %s: %s", ErrRejected, rc, status, reason)
}
