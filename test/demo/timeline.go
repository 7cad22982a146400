package demo

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/test/vnfm"
)

// coarseSlack is how far before the truth a Pacemaker log line may be
// stamped: its daemons read a coarse clock (lab.LogTick), so a failure
// reported 2 ms after a kill can read 1 ms before it. Twice the tick:
// the fault's own stamp is read from another clock.
const coarseSlack = 2 * lab.LogTick

// Fault is what the demo did, and to which node.
type Fault struct {
	Kind string // KindKill or KindPower
	Node string
	At   time.Time // just before the kill or the power cut
}

const (
	KindKill  = "process kill"
	KindPower = "node power loss"
)

// Names of the resources and servers the timeline looks for, as
// docs/operations.md's set-ups name them.
type Names struct {
	App, VIP, Web string            // set-up A's VNFC and VIP, set-up B's clone's primitive
	Servers       map[string]string // node → its server in the backend
	Backend       string
	LBs           []string
}

// Sources are the records the timeline is read from, each written by
// the component itself: no event is the demo's own guess.
type Sources struct {
	Pacemaker map[string][]Line // node → pacemaker.log (daemons and agents)
	VNFC      map[string][]Line // node → set-up A's VNFC's log (app.log)
	HAProxy   map[string][]Line // host → HAProxy's own log
	VNFM      []vnfm.Record     // what the test VNFM received
	Client    []Request         // the client's log
}

// Event is one thing that happened after a fault.
type Event struct {
	Setup  string // "A", "B", or "" for the cluster
	What   string
	Where  string
	At     time.Time // zero: not seen
	Detail string
	Source string
	// Expected is false for an event this fault must not cause (a node
	// lost or fenced after a process kill); seeing one is then wrong.
	Expected bool
}

// Seen reports whether the event was observed.
func (e Event) Seen() bool { return !e.At.IsZero() }

// Key names the event in what the demo reports: setup, what, where.
func (e Event) Key() string { return strings.TrimSpace(e.Setup + " " + e.What + " " + e.Where) }

// Timeline is one fault's events, in the order the demo lists them.
type Timeline struct {
	Fault  Fault
	Events []Event
	// FailedA and FailedB count the client's failed requests after the
	// fault, to the VIP and through the load balancers.
	FailedA, FailedB int
	SentA, SentB     int
	// Until is when the records were read: what came later is not in
	// the timeline, nor in its counts.
	Until time.Time
}

var (
	resultRE = regexp.MustCompile(`Result of (\S+) operation for (\S+) on (\S+): ([^|]*?)\s*(\||$)`)
	peerRE   = regexp.MustCompile(`Node (\S+) is no longer a peer`)
	fenceRE  = regexp.MustCompile(`Operation '(\w+)' targeting (\S+) by (\S+) for \S+: OK`)
	restored = regexp.MustCompile(`restored requests=(\d+) from the checkpoint store at revision (\d+)`)
	serverRE = regexp.MustCompile(`Server (\S+)/(\S+) is ([^.]*)`)
)

// result is one "Result of OP operation for RSC on NODE: WHAT" line.
type result struct {
	Line
	op, rsc, node, what string
}

func results(lines []Line) []result {
	var out []result
	for _, l := range lines {
		if m := resultRE.FindStringSubmatch(l.Text); m != nil {
			out = append(out, result{l, m[1], m[2], m[3], m[4]})
		}
	}
	return out
}

func failed(r result) bool { return r.what != "ok" && r.what != "Cancelled" }

// first is the earliest of the nodes' results that ok accepts (of two
// at the same instant, the first node's by name: the same every time).
func first(src Sources, ok func(result) bool) (result, bool) {
	var best result
	found := false
	for _, node := range slices.Sorted(maps.Keys(src.Pacemaker)) {
		for _, r := range results(src.Pacemaker[node]) {
			if ok(r) && (!found || r.At.Before(best.At)) {
				best, found = r, true
			}
		}
	}
	return best, found
}

// earliest is the earliest line match accepts in the logs of every node
// but skip, and the node that logged it (of two at the same instant, the
// first by name).
func earliest(logs map[string][]Line, skip string, match func(string) bool) (Line, string, bool) {
	var best Line
	var by string
	for _, node := range slices.Sorted(maps.Keys(logs)) {
		if node == skip {
			continue
		}
		if l, ok := firstLine(logs[node], match); ok && (by == "" || l.At.Before(best.At)) {
			best, by = l, node
		}
	}
	return best, by, by != ""
}

func firstLine(lines []Line, match func(string) bool) (Line, bool) {
	for _, l := range lines {
		if match(l.Text) {
			return l, true
		}
	}
	return Line{}, false
}

// Build reads one fault's timeline from the sources, as ReadSources cut
// them (the logs from the fault on, everything before the read).
func Build(f Fault, n Names, src Sources) Timeline {
	tl := Timeline{Fault: f}
	add := func(e Event) { tl.Events = append(tl.Events, e) }
	pm := "pacemaker.log"

	// The cluster's account of the fault. A process kill must cost no
	// node: the VNFC's failure is handled where it ran.
	power := f.Kind == KindPower
	lost := Event{What: "node lost (corosync membership)", Where: f.Node, Source: pm, Expected: power}
	if l, node, ok := earliest(src.Pacemaker, f.Node, func(s string) bool {
		m := peerRE.FindStringSubmatch(s)
		return m != nil && m[1] == f.Node
	}); ok {
		lost.At, lost.Detail = l.At, "seen by "+node
	}
	add(lost)
	fenced := Event{What: "node fenced", Where: f.Node, Source: pm, Expected: power}
	if l, node, ok := earliest(src.Pacemaker, "", func(s string) bool {
		m := fenceRE.FindStringSubmatch(s)
		return m != nil && m[2] == f.Node
	}); ok {
		m := fenceRE.FindStringSubmatch(l.Text)
		fenced.At, fenced.Detail = l.At, fmt.Sprintf("%s by %s (seen by %s)", m[1], m[3], node)
	}
	add(fenced)

	// Set-up A.
	if f.Kind == KindKill {
		e := Event{Setup: "A", What: "failure recorded by Pacemaker", Where: f.Node, Source: pm, Expected: true}
		if r, ok := first(src, func(r result) bool { return r.rsc == n.App && r.node == f.Node && failed(r) }); ok {
			e.At, e.Detail = r.At, r.op+": "+r.what
		}
		add(e)
	}
	promoted := Event{Setup: "A", What: "standby promoted", Source: pm, Expected: true}
	r, ok := first(src, func(r result) bool { return r.rsc == n.App && r.op == "promote" && r.what == "ok" && r.node != f.Node })
	to := ""
	if ok {
		promoted.At, promoted.Where, to = r.At, r.node, r.node
	}
	add(promoted)
	st := Event{Setup: "A", What: "state restored from the checkpoint store", Where: to, Source: "the VNFC's log", Expected: true}
	if l, ok := firstLine(src.VNFC[to], restored.MatchString); ok {
		m := restored.FindStringSubmatch(l.Text)
		st.At, st.Detail = l.At, fmt.Sprintf("revision %s (count %s)", m[2], m[1])
	}
	add(st)
	vip := Event{Setup: "A", What: "VIP started", Where: to, Source: pm, Expected: true}
	if r, ok := first(src, func(r result) bool { return r.rsc == n.VIP && r.op == "start" && r.what == "ok" && r.node == to }); ok {
		vip.At = r.At
	}
	add(vip)
	ann := Event{Setup: "A", What: "VIP announced (gratuitous ARP)", Where: to, Source: pm, Expected: true}
	tag := "vip(" + n.VIP + ")["
	if l, ok := firstLine(src.Pacemaker[to], func(s string) bool {
		return strings.Contains(s, tag) && strings.Contains(s, "INFO: announced ")
	}); ok {
		ann.At = l.At
	}
	add(ann)
	cl := Event{Setup: "A", What: "client's traffic resumed", Where: "client", Source: "the client's log", Expected: true}
	var lastRev, firstRev uint64
	for _, q := range src.Client {
		if q.Target != "vip" {
			continue
		}
		if q.Start.Before(f.At) {
			if q.OK {
				lastRev = q.Rev
			}
			continue
		}
		tl.SentA++
		if !q.OK {
			tl.FailedA++
			continue
		}
		if cl.At.IsZero() && q.Node != f.Node {
			cl.At, cl.Where, firstRev = q.Start.Add(q.Took), "client → VIP", q.Rev
		}
	}
	if cl.Seen() {
		cl.Detail = fmt.Sprintf("answered by %s; revision %d before the fault, %d after", to, lastRev, firstRev)
	}
	add(cl)

	// Set-up B.
	if f.Kind == KindKill {
		e := Event{Setup: "B", What: "failure recorded by Pacemaker", Where: f.Node, Source: pm, Expected: true}
		if r, ok := first(src, func(r result) bool { return r.rsc == n.Web && r.node == f.Node && failed(r) }); ok {
			e.At, e.Detail = r.At, r.op+": "+r.what
		}
		add(e)
	}
	server := n.Servers[f.Node]
	for _, lb := range n.LBs {
		e := Event{Setup: "B", What: "pool changed", Where: lb, Source: "HAProxy's log", Expected: true}
		if l, ok := firstLine(src.HAProxy[lb], func(s string) bool {
			m := serverRE.FindStringSubmatch(s)
			return m != nil && m[1] == n.Backend && m[2] == server
		}); ok {
			e.At, e.Detail = l.At, server+" is "+serverRE.FindStringSubmatch(l.Text)[3]
		}
		add(e)
	}
	hook := Event{Setup: "B", What: "webhook received", Where: "vnfm", Source: "the test VNFM's record", Expected: true}
	// With migration-threshold=1 a killed clone instance is not started
	// on its node again (vnfc.unrecoverable), and a node lost with its
	// VNFC is vnfc.lost: the policy Heals both.
	heal := Event{Setup: "B", What: "Heal received", Where: "vnfm", Source: "the test VNFM's record", Expected: true}
	for _, rec := range src.VNFM {
		if rec.Time.Before(f.At) || !rec.OK() {
			continue
		}
		switch {
		case rec.Endpoint == vnfm.EndpointWebhook && !hook.Seen() && strings.Contains(eventType(rec.Body), ".vnfc."):
			hook.At, hook.Detail = rec.Time, eventType(rec.Body)
		case rec.Endpoint == vnfm.EndpointHeal && !heal.Seen():
			heal.At, heal.Detail = rec.Time, "VNFCs "+strings.Join(rec.VNFCInstanceIDs, ", ")
		}
	}
	add(hook)
	add(heal)
	lbc := Event{Setup: "B", What: "client served by another node", Where: "client → LBs", Source: "the client's log", Expected: true}
	for _, q := range src.Client {
		if q.Target == "vip" || q.Start.Before(f.At) {
			continue
		}
		tl.SentB++
		if !q.OK {
			tl.FailedB++
		} else if !lbc.Seen() && q.Node != f.Node {
			lbc.At, lbc.Detail = q.Start.Add(q.Took), "through "+q.Target+", by "+q.Node
		}
	}
	add(lbc)
	return tl
}

// eventType is a webhook's CloudEvent type, from its body.
func eventType(body string) string {
	var ce struct {
		Type    string `json:"type"`
		Subject string `json:"subject"`
	}
	if json.Unmarshal([]byte(body), &ce) != nil || ce.Type == "" {
		return ""
	}
	return strings.TrimSpace(ce.Type + " " + ce.Subject)
}

// Problems says what is wrong with a timeline: an expected event not
// seen, an unexpected one seen, or two in an order that cannot be.
func (tl Timeline) Problems() []string {
	var out []string
	at := map[string]time.Time{}
	for _, e := range tl.Events {
		key := e.Key()
		switch {
		case e.Expected && !e.Seen():
			out = append(out, key+": not seen")
		case !e.Expected && e.Seen():
			out = append(out, key+": seen, and this fault must not cause it")
		case e.Seen() && e.At.Before(tl.Fault.At.Add(-coarseSlack)):
			out = append(out, key+": before the fault")
		}
		at[e.Setup+" "+e.What] = e.At
	}
	// Each pair: the first must not come after the second.
	order := [][2]string{
		{"A standby promoted", "A client's traffic resumed"},
		{"A state restored from the checkpoint store", "A client's traffic resumed"},
		{"A VIP started", "A client's traffic resumed"},
		{"A standby promoted", "A VIP started"},
	}
	if tl.Fault.Kind == KindKill {
		order = append(order, [][2]string{
			{"A failure recorded by Pacemaker", "A standby promoted"},
			{"B failure recorded by Pacemaker", "B webhook received"},
		}...)
	} else {
		order = append(order, [][2]string{
			{" node lost (corosync membership)", " node fenced"},
			{" node fenced", "A standby promoted"},
			{" node fenced", "B Heal received"},
			{" node lost (corosync membership)", "B webhook received"},
		}...)
	}
	for _, p := range order {
		a, b := at[p[0]], at[p[1]]
		if !a.IsZero() && !b.IsZero() && a.After(b) {
			out = append(out, fmt.Sprintf("%s at +%s, after %s at +%s", strings.TrimSpace(p[0]), ms(a.Sub(tl.Fault.At)), strings.TrimSpace(p[1]), ms(b.Sub(tl.Fault.At))))
		}
	}
	return out
}

func ms(d time.Duration) string { return fmt.Sprintf("%d ms", d.Milliseconds()) }

// Print writes the timeline: each event's offset from the fault, in the
// order they happened, the ones not seen last.
func (tl Timeline) Print(w io.Writer) {
	evs := slices.Clone(tl.Events)
	slices.SortStableFunc(evs, func(a, b Event) int {
		switch {
		case a.Seen() && b.Seen():
			return a.At.Compare(b.At)
		case a.Seen():
			return -1
		case b.Seen():
			return 1
		}
		return 0
	})
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "%7s\t\tevent\twhere\tdetail\n", "+ms")
	for _, e := range evs {
		off, detail := "—", e.Detail
		if e.Seen() {
			off = fmt.Sprint(e.At.Sub(tl.Fault.At).Milliseconds())
		} else if !e.Expected {
			detail = "none, as it must be"
		}
		setup := e.Setup
		if setup == "" {
			setup = "·"
		}
		fmt.Fprintf(tw, "%7s\t%s\t%s\t%s\t%s\n", off, setup, e.What, e.Where, detail)
	}
	tw.Flush()
	fmt.Fprintf(w, "(Pacemaker stamps its lines from a coarse clock: a few ms early at worst, so an event can read -1 or -2 ms)\n")
	fmt.Fprintf(w, "client: %d of %d requests to set-up A's VIP failed after the fault, %d of %d through the load balancers\n",
		tl.FailedA, tl.SentA, tl.FailedB, tl.SentB)
}
