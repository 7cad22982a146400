package e2e

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/ocf/ocftest"
	"github.com/vnfha/vnfha/test/haproxytest"
	"github.com/vnfha/vnfha/test/vnfm"
	"github.com/vnfha/vnfha/test/vnfm/labvnfm"
)

// The acceptance of issue 12 (the bridge tells webhooks and the VNFM what
// failed, at least once): the clone of 3 test VNFCs behind HAProxy on lb1,
// the bridge as a cluster resource (as TestBridge sets them up), and the
// test VNFM (test/vnfm/cmd/vnfm) as a process on the lab host vnfm, over
// TLS with a test CA, holding the webhook receiver the bridge signs for
// and the ETSI Heal API. Every scenario asserts on what the VNFM's record
// says it received, keyed by event id, never on the bridge's word alone:
//
//	vnfc-kill       kill -9 of a VNFC restarted in place: vnfc.failed, then
//	                vnfc.recovered, both signed (the receiver verifies the
//	                signature), and no Heal
//	lb-backend      a server HAProxy checks but Pacemaker does not manage
//	                (a vnfcd on the host ext1) stops: lb.backend_down, and
//	                lb.backend_up when it is back
//	vnfm-faults     the receiver answers 500, then hangs, once each: the
//	                event is retried and accepted; a receiver whose
//	                certificate another CA signed is refused, counted, and
//	                gets nothing (it runs all along, as a second webhook)
//	unrecoverable   migration-threshold=1 and a kill: vnfc.unrecoverable,
//	                and one Heal naming the VNFC, answered 409, then 500,
//	                then held, each retried, then accepted (schema and
//	                token checked by the VNFM), its operation followed to
//	                COMPLETED
//	vnfm-down       the VNFM is down 30 s while VNFCs fail: once it is back,
//	                every event the bridge held for it arrives
//	node-loss       power loss of node3: vnfc.lost and a Heal for its VNFC
//	bridge-failover the bridge's node loses power while events wait for the
//	                VNFM (down), their failure cleaned up from the CIB: the
//	                new bridge, elsewhere, delivers them from the store, and
//	                the lost node's vnfc.lost and Heal
//
// Latencies (kill → webhook received, stop → lb.backend_down received,
// fencing → Heal received) are logged, never asserted.

const (
	// The VNFM's ids of the VNF and of the VNFC on each node, in the
	// bridge's config and in the test VNFM's instance.
	e2eVNF      = "vnf-e2e"
	vnfmPort    = 9890
	untrustPort = 9891
	// The sinks' names in the bridge's config (and /v1/status).
	sinkReceiver  = "receiver"
	sinkUntrusted = "untrusted"
	vnfmClientID  = "vnfha-bridge"
	// extPort is where the vnfcd of ext1 (the server Pacemaker does not
	// manage) serves, and extServer its name in lb1's backend.
	extPort   = 8080
	extServer = "ext1"
)

func vnfcID(node string) string { return "vnfc-" + node }

// eventsEnv is the lab the scenarios of TestBridgeEvents share.
type eventsEnv struct {
	*bridgeEnv
	vm  *labvnfm.VNFM // the VNFM, and the webhook receiver the bridge trusts
	bad *labvnfm.VNFM // a receiver whose certificate another CA signed
	ext *labvnfm.HostProc
	// dir holds the secrets, the PKIs and the hosts' processes' logs.
	dir string
	// secrets are the webhook's and the OAuth client's.
	secrets labvnfm.Secrets
	// all is every server of lb1's backend UP.
	all map[string]string
}

func TestBridgeEvents(t *testing.T) {
	start := time.Now()
	l := labtest.Up(t, lab.Options{Nodes: 3, Hosts: []string{"lb1", "vnfm", extServer}})
	e := &eventsEnv{bridgeEnv: &bridgeEnv{t: t, l: l, ctx: labtest.Context(t), vnfcd: labtest.BuildVNFCd(t),
		lbs: map[string]*haproxytest.HAProxy{}, lbList: []string{"lb1"}}}
	// Made before the cleanup that dumps the logs it holds: cleanups run
	// last first, and the directory's removal must come after.
	e.dir = ocftest.PublicDir(t, "vnfha-events-")
	t.Cleanup(func() {
		if t.Failed() {
			e.dumpBridgeLogs(t)
			for _, v := range []*labvnfm.VNFM{e.vm, e.bad} {
				if v != nil {
					t.Logf("--- the test VNFM on %s (last lines)\n%s", v.Proc.Addr, v.Proc.LogTail(30))
				}
			}
		}
		t.Logf("TestBridgeEvents took %s", time.Since(start).Round(time.Second))
	})
	e.setUp()
	t.Logf("set up in %s", time.Since(start).Round(time.Second))

	for _, s := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"vnfc-kill", e.vnfcKill},
		{"lb-backend", e.lbBackend},
		{"vnfm-faults", e.vnfmFaults},
		{"unrecoverable", e.unrecoverable},
		{"vnfm-down", e.vnfmDown},
		{"node-loss", e.nodeLoss},
		{"bridge-failover", e.bridgeFailover},
		{"no-secrets", e.noSecrets},
	} {
		if !t.Run(s.name, s.run) {
			// The scenarios share the lab's state: one that failed
			// may have left it where the next cannot start.
			return
		}
	}
}

// setUp starts the test VNFMs on the host vnfm (the real one and the
// untrusted one), the unmanaged server's vnfcd on ext1, HAProxy on lb1
// with that server static in the bridge's backend, the VNFC clone and the
// bridge with its sinks.
func (e *eventsEnv) setUp() {
	t, l, dir := e.t, e.l, e.dir
	e.secrets = labvnfm.WriteSecrets(t, dir)
	var vnfcs []string
	for _, n := range l.Nodes() {
		vnfcs = append(vnfcs, vnfcID(n))
	}
	bin := labvnfm.Build(t)
	newVNFM := func(name string, port uint16) *labvnfm.VNFM {
		// Each its own CA: the untrusted one's is not the CA the
		// bridge's config names. An operation shows STARTING, then
		// PROCESSING, and is COMPLETED at its third read, as Tacker's
		// take a while.
		return labvnfm.Start(t, l, labvnfm.Options{Host: "vnfm", Port: port, Name: name, Dir: dir, Bin: bin,
			Secrets: e.secrets, ClientID: vnfmClientID, VNF: e2eVNF, VNFCs: vnfcs, Polls: 3})
	}
	e.vm = newVNFM("vnfm", vnfmPort)
	e.bad = newVNFM("untrusted", untrustPort)

	// The server Pacemaker does not manage: a vnfcd on ext1, static in
	// lb1's backend beside the bridge's servers, with quick checks.
	ext, err := l.HostAddr(extServer)
	if err != nil {
		t.Fatal(err)
	}
	extAddr := netip.AddrPortFrom(ext, extPort)
	e.ext = &labvnfm.HostProc{L: l, Host: extServer, Addr: extAddr.String(), Log: filepath.Join(dir, "ext1-vnfcd.log"),
		Argv: []string{e.vnfcd, "--listen", extAddr.String()}}
	t.Cleanup(func() { e.ext.Stop(t) })
	e.ext.Start(t)
	lb1, _ := l.HostAddr("lb1")
	cfg, err := haproxytest.LB(lb1, haproxytest.LBOptions{
		Servers: []haproxytest.Server{{Name: extServer, Addr: extAddr}},
		Check:   haproxytest.Check{Inter: 500 * time.Millisecond, Fall: 2, Rise: 2},
	})
	if err != nil {
		t.Fatal(err)
	}
	e.lbs["lb1"] = haproxytest.Start(t, l, "lb1", cfg)
	e.all = map[string]string{extServer: "UP"}
	for _, n := range l.Nodes() {
		e.all[appServer+n] = "UP"
	}

	e.createApp()
	ids := ""
	for _, n := range l.Nodes() {
		ids += fmt.Sprintf("%s: %s, ", n, vnfcID(n))
	}
	svc := fmt.Sprintf("    vnf_instance_id: %s\n    vnfc_instance_ids: {%s}\n", e2eVNF, strings.TrimSuffix(ids, ", "))
	// Both webhooks take every type. The delivery's backoff is short, so
	// that a retry is seen within a second or two; the sinks' timeouts
	// too, so that a hang costs two seconds.
	sinks := labvnfm.Sinks{
		Webhooks: []labvnfm.Webhook{{Name: sinkReceiver, To: e.vm}, {Name: sinkUntrusted, To: e.bad}},
		VNFM:     e.vm, CAFile: e.vm.PKI.CAFile, Secrets: e.secrets, ClientID: vnfmClientID,
		Timeout: 2 * time.Second, FollowTimeout: time.Minute, PollInterval: 200 * time.Millisecond,
		DeliveryTimeout: 3 * time.Second, MinBackoff: 200 * time.Millisecond, MaxBackoff: 2 * time.Second,
	}.YAML()
	e.writeConfig(svc, sinks)
	e.startBridge()
	e.waitPools(t, 30*time.Second, "lb1's pool: the 3 instances and ext1, UP", e.all)
}

// vnfcKill: kill -9 of the VNFC on node2, which Pacemaker restarts in
// place: the receiver gets vnfc.failed, then vnfc.recovered, with the ids
// of the failure the CIB records, both signed (the receiver accepts only
// a verified signature); the VNFM gets no Heal (the default policy wants
// none for a restart in place).
func (e *eventsEnv) vnfcKill(t *testing.T) {
	const node = "node2"
	e.waitPools(t, 30*time.Second, "all UP before the kill", e.all)
	killed, failed := e.killVNFC(t, node)
	fh := e.vm.WaitHook(t, 30*time.Second, "vnfc.failed of "+node, func(h labvnfm.Hook) bool { return h.ID == failed })
	rh := e.vm.WaitHook(t, 30*time.Second, "vnfc.recovered of "+node, func(h labvnfm.Hook) bool { return h.ID == failed+"/recovered" })
	t.Logf("kill -9 of the VNFC on %s: vnfc.failed received %s after, vnfc.recovered %s after",
		node, fh.At.Sub(killed).Round(time.Millisecond), rh.At.Sub(killed).Round(time.Millisecond))
	for _, c := range []struct {
		h   labvnfm.Hook
		typ string
	}{{fh, delivery.VNFCFailed}, {rh, delivery.VNFCRecovered}} {
		if c.h.Type != c.typ || c.h.Data.Node != node || c.h.Data.Resource != "app" || c.h.Data.Cluster != "e2e" {
			t.Errorf("event %s: type %q, data %+v; want %s of app on %s in cluster e2e", c.h.ID, c.h.Type, c.h.Data, c.typ, node)
		}
	}
	if fh.Seq > rh.Seq {
		t.Errorf("vnfc.recovered (#%d) reached the receiver before vnfc.failed (#%d)", rh.Seq, fh.Seq)
	}
	// No Heal: wait a moment more than the backoff, then look at every
	// request the VNFM got. And no delivery refused: every signature the
	// receiver checked was good.
	time.Sleep(time.Second)
	for _, r := range e.vm.Received(t).Records {
		switch {
		case r.Endpoint == vnfm.EndpointHeal:
			t.Errorf("the VNFM got a Heal (%s) after a restart in place: %s", r.Verdict, r.Body)
		case r.Endpoint == vnfm.EndpointWebhook && !r.OK():
			t.Errorf("the receiver refused %s: %s", r.EventID, r.Verdict)
		case r.Endpoint != vnfm.EndpointWebhook:
			t.Logf("the VNFM got %s %s: %s", r.Method, r.Path, r.Verdict)
		}
	}
}

// lbBackend: the vnfcd of ext1, a server of lb1's backend that Pacemaker
// does not manage, stops: HAProxy's checks find it down, and the receiver
// gets lb.backend_down (managed: false); it starts again: lb.backend_up.
func (e *eventsEnv) lbBackend(t *testing.T) {
	e.waitPools(t, 30*time.Second, "all UP before ext1 stops", e.all)
	for _, c := range []struct {
		what, typ, state string
		do               func(t testing.TB)
	}{
		{"stops", delivery.LBBackendDown, "DOWN", e.ext.Stop},
		{"starts again", delivery.LBBackendUp, "UP", e.ext.Start},
	} {
		after := e.vm.LastSeq(t)
		at := time.Now()
		c.do(t)
		var seen time.Time
		labtest.Eventually(t, 15*time.Second, 20*time.Millisecond, "HAProxy's checks find ext1 "+c.state, func() (bool, string) {
			st := e.stat(t, e.lbs["lb1"])[extServer]
			seen = time.Now()
			return health(st.Status) == c.state, st.Status
		})
		h := e.vm.WaitHook(t, 20*time.Second, c.typ+" of ext1", func(h labvnfm.Hook) bool {
			return h.Seq > after && h.Type == c.typ && h.Data.Server == extServer
		})
		t.Logf("ext1's vnfcd %s: HAProxy shows it %s %s later, %s received %s later (id %s)", c.what, c.state,
			seen.Sub(at).Round(time.Millisecond), c.typ, h.At.Sub(at).Round(time.Millisecond), h.ID)
		if h.Data.Managed == nil || *h.Data.Managed || h.Data.HAProxy != "lb1" || h.Data.Backend != haproxytest.Backend {
			t.Errorf("%s %s: data %+v; want managed false, lb1, %s", c.typ, h.ID, h.Data, haproxytest.Backend)
		}
	}
}

// vnfmFaults: the receiver answers the next delivery 500, then holds the
// next one without answering (the sink's timeout is 2 s): each event is
// retried and accepted, and the record shows the attempts. The untrusted
// receiver (a certificate of another CA) has refused every event since
// the start: its deliveries counted as failed with a TLS error in
// /v1/status, and not one request reached it.
func (e *eventsEnv) vnfmFaults(t *testing.T) {
	for _, f := range []struct{ fault, verdict string }{
		{`{"endpoint":"webhook","status":500,"times":1}`, vnfm.Faulted + ": 500"},
		{`{"endpoint":"webhook","hang":true,"times":1}`, vnfm.Faulted + ": hang"},
	} {
		e.waitPools(t, 30*time.Second, "all UP before the kill", e.all)
		after := e.vm.LastSeq(t)
		e.vm.Control(t, http.MethodPost, "/control/faults", f.fault, nil)
		at, _ := e.killVNFC(t, "node3")
		faulted := e.vm.WaitRecord(t, 20*time.Second, "a delivery answered "+f.verdict, func(h labvnfm.Hook) bool {
			return h.Seq > after && h.Verdict == f.verdict
		})
		acc := e.vm.WaitHook(t, 20*time.Second, "the event "+f.verdict+" retried and accepted", func(h labvnfm.Hook) bool {
			return h.Seq > faulted.Seq && h.ID == faulted.ID
		})
		var attempts []string
		for _, h := range e.vm.Hooks(t) {
			if h.ID == faulted.ID {
				attempts = append(attempts, fmt.Sprintf("#%d %s @%s", h.Seq, h.Verdict, h.At.Sub(at).Round(time.Millisecond)))
			}
		}
		t.Logf("%s: %s (%s), accepted %s after the faulted attempt; its attempts: %s", f.fault, faulted.ID, faulted.Type,
			acc.At.Sub(faulted.At).Round(time.Millisecond), strings.Join(attempts, ", "))
	}

	// The untrusted receiver.
	s := e.status(t, e.bridgeNode(t))
	st, ok := s.Deliveries[sinkUntrusted]
	if !ok {
		t.Fatalf("/v1/status has no deliveries of %s: %+v", sinkUntrusted, s.Deliveries)
	}
	t.Logf("/v1/status deliveries: %s %+v; %s %+v", sinkReceiver, s.Deliveries[sinkReceiver], sinkUntrusted, st)
	// Refused for good (a trust failure is final) or retried: either
	// way counted, and never delivered.
	if st.Failed+st.Retried == 0 || st.Delivered != 0 {
		t.Errorf("%s: %d failed, %d retried, %d delivered; want every event refused", sinkUntrusted, st.Failed, st.Retried, st.Delivered)
	}
	if !strings.Contains(st.LastError, "certificate") {
		t.Errorf("%s: last error %q does not say the certificate was refused", sinkUntrusted, st.LastError)
	}
	if recs := e.bad.Received(t).Records; len(recs) != 0 {
		t.Errorf("the untrusted receiver got %d requests, the first %s %s: want none", len(recs), recs[0].Method, recs[0].Path)
	}
	// Its server saw TLS handshakes fail, never a request in clear.
	log := e.bad.Proc.LogTail(200)
	if !strings.Contains(log, "TLS handshake error") {
		t.Errorf("the untrusted receiver logged no refused handshake:\n%s", log)
	}
	if strings.Contains(log, "HTTP request to an HTTPS server") {
		t.Errorf("the untrusted receiver got a request in clear:\n%s", log)
	}
}

// unrecoverable: migration-threshold=1 on app, then the VNFC on node2 is
// killed: Pacemaker bans it from node2 at its first failure, and the
// clone's other instances hold the other nodes (clone-node-max 1), so it
// can run nowhere. The receiver gets vnfc.unrecoverable, with the failure's
// call id and rc-change, and the VNFM one Heal naming vnfc-node2. The
// VNFM answers the Heal 409 (another LCM operation in progress), then
// 500, then holds it unanswered (the sink's timeout is 2 s): each is
// retried, and the fourth attempt is accepted (the VNFM checks the body
// against the HealVnfRequest schema and the bearer token), once; its LCM
// operation is followed to COMPLETED. One kill suffices for the ban with
// migration-threshold=1: a command that keeps failing is what the
// threshold stands for.
func (e *eventsEnv) unrecoverable(t *testing.T) {
	const node = "node2"
	e.waitPools(t, 30*time.Second, "all UP before the threshold is set", e.all)
	// The earlier kills' fail counts go first: with them, the threshold
	// would ban node2 and node3 at once.
	e.pcsIn(t, "node1", "resource", "cleanup", "app")
	waitIdleOn(t, e.l, "node1")
	e.pcsIn(t, "node1", "resource", "meta", "app", "migration-threshold=1")
	waitIdleOn(t, e.l, "node1")
	e.waitPools(t, 30*time.Second, "all UP with migration-threshold=1", e.all)
	t.Cleanup(func() {
		e.vm.Control(t, http.MethodDelete, "/control/faults", "", nil)
		e.pcsIn(t, "node1", "resource", "meta", "app", "migration-threshold=")
		e.pcsIn(t, "node1", "resource", "cleanup", "app")
		e.waitPools(t, 60*time.Second, "the VNFC on "+node+" back after the cleanup: all UP", e.all)
		waitIdleOn(t, e.l, "node1")
	})

	faults := []string{vnfm.Faulted + ": 409", vnfm.Faulted + ": 500", vnfm.Faulted + ": hang"}
	for _, f := range []string{`{"endpoint":"heal","status":409,"times":1}`, `{"endpoint":"heal","status":500,"times":1}`,
		`{"endpoint":"heal","hang":true,"times":1}`} {
		e.vm.Control(t, http.MethodPost, "/control/faults", f, nil)
	}
	after := e.vm.LastSeq(t)
	before := e.failureID(t, "node1", node)
	pid := vnfcdPID(t, e.l, node)
	killed := time.Now()
	if out, err := e.l.Exec(e.ctx, node, "kill", "-9", pid); err != nil {
		t.Fatalf("kill: %v %s", err, out)
	}
	var failed string
	labtest.Eventually(t, 30*time.Second, 50*time.Millisecond, "the CIB records the kill on "+node, func() (bool, string) {
		failed = e.failureID(t, "node1", node)
		return failed != "" && failed != before, "failure record: " + failed
	})
	want := strings.Replace(failed, "/failed/", "/unrecoverable/", 1)
	uh := e.vm.WaitHook(t, 30*time.Second, "vnfc.unrecoverable of "+node, func(h labvnfm.Hook) bool { return h.ID == want })
	if uh.Type != delivery.VNFCUnrecoverable || uh.Data.Node != node || uh.Data.VNFCInstanceID != vnfcID(node) || uh.Data.VNFInstanceID != e2eVNF {
		t.Errorf("event %s: type %q, data %+v; want %s of %s (%s of %s)", uh.ID, uh.Type, uh.Data, delivery.VNFCUnrecoverable, node, vnfcID(node), e2eVNF)
	}
	heal := e.vm.WaitHeal(t, 60*time.Second, vnfcID(node), after)
	t.Logf("kill -9 with migration-threshold=1 on %s: vnfc.unrecoverable received %s after, the Heal accepted %s after",
		node, uh.At.Sub(killed).Round(time.Millisecond), heal.Time.Sub(killed).Round(time.Millisecond))
	e.checkHeal(t, heal, want)

	// The attempts before: the three faults, in order, each a Heal of
	// the same VNFC (the record keeps what a faulted request named).
	var got []string
	for _, r := range e.vm.Received(t).Records {
		if r.Seq > after && r.Endpoint == vnfm.EndpointHeal && r.Seq < heal.Seq {
			got = append(got, r.Verdict)
		}
	}
	if !slices.Equal(got, faults) {
		t.Errorf("the Heal's attempts before the accepted one: %q, want %q", got, faults)
	}
	e.waitOpCompleted(t, heal)
	// One Heal: a few backoffs later, still one accepted.
	time.Sleep(3 * time.Second)
	if n := e.vm.CountHeals(t, vnfcID(node), after); n != 1 {
		t.Errorf("%d Heals of %s accepted, want 1", n, vnfcID(node))
	}
	s := e.status(t, e.bridgeNode(t))
	if s.Heal == nil {
		t.Fatal("/v1/status has no heal")
	}
	t.Logf("/v1/status heal: %+v", s.Heal.Stats)
	if s.Heal.Stats.Operations["COMPLETED"] == 0 || s.Heal.Stats.Blocked == 0 || s.Heal.Stats.Retried == 0 {
		t.Errorf("/v1/status heal stats %+v: want a completed operation, a blocked attempt (409) and a retried one", s.Heal.Stats)
	}
}

// vnfmDown: the VNFM (and its receiver) stops for 30 s, during which the
// VNFCs on node2 and node3 are killed. The store holds their events for
// the receiver meanwhile; once the VNFM is back, every event the store
// held for it arrives, the failures' ids among them.
func (e *eventsEnv) vnfmDown(t *testing.T) {
	const down = 30 * time.Second
	e.waitPools(t, 30*time.Second, "all UP before the VNFM stops", e.all)
	stopped := time.Now()
	e.vm.Stop(t)
	var want []string
	for _, n := range []string{"node2", "node3"} {
		_, id := e.killVNFC(t, n)
		want = append(want, id, id+"/recovered")
	}
	// Every event the kills made is in the store, owed to the receiver.
	e.waitOwed(t, "node1", want)
	time.Sleep(time.Until(stopped.Add(down)))
	owed := e.owed(t, "node1", sinkReceiver)
	s := e.status(t, e.bridgeNode(t))
	t.Logf("the VNFM down %s: %d events owed to the receiver; /v1/status: %+v", time.Since(stopped).Round(time.Second), len(owed), s.Deliveries[sinkReceiver])
	if s.Deliveries[sinkReceiver].Pending == 0 {
		t.Errorf("/v1/status shows nothing pending for %s while its VNFM is down: %+v", sinkReceiver, s.Deliveries[sinkReceiver])
	}

	back := time.Now()
	e.vm.Start(t)
	e.waitDelivered(t, back, owed)
}

// nodeLoss: node3 loses power (l.Kill). Once its fencing is recorded, the
// receiver gets vnfc.lost for the VNFC that ran there, and the VNFM one
// Heal naming vnfc-node3, followed to COMPLETED. node3 is then started
// again and its VNFC returns.
func (e *eventsEnv) nodeLoss(t *testing.T) {
	const node = "node3"
	e.waitPools(t, 30*time.Second, "all UP before the power loss", e.all)
	after := e.vm.LastSeq(t)
	killed := time.Now()
	if err := e.l.Kill(node); err != nil {
		t.Fatal(err)
	}
	lh := e.vm.WaitHook(t, 90*time.Second, "vnfc.lost of "+node, func(h labvnfm.Hook) bool {
		return h.Seq > after && h.Type == delivery.VNFCLost && h.Data.Node == node
	})
	heal := e.vm.WaitHeal(t, 30*time.Second, vnfcID(node), after)
	e.checkHeal(t, heal, lh.ID)
	fenced := e.fencedAt(t, lh.ID)
	t.Logf("power loss of %s: its fencing completed %s after (the fencer's second), vnfc.lost received %s after the loss, "+
		"the Heal accepted %s after the loss, %s after the fencing's second", node, fenced.Sub(killed).Round(time.Second),
		lh.At.Sub(killed).Round(time.Millisecond), heal.Time.Sub(killed).Round(time.Millisecond), heal.Time.Sub(fenced).Round(time.Millisecond))
	if !strings.HasPrefix(lh.ID, "e2e/app/"+node+"/lost/") || lh.Data.VNFCInstanceID != vnfcID(node) {
		t.Errorf("vnfc.lost %s: data %+v; want e2e/app/%s/lost/<fencing> naming %s", lh.ID, lh.Data, node, vnfcID(node))
	}
	e.waitOpCompleted(t, heal)

	if err := e.l.Start(node); err != nil {
		t.Fatal(err)
	}
	e.waitPools(t, 120*time.Second, node+" back: all UP", e.all)
	waitIdleOn(t, e.l, "node1")
}

// bridgeFailover: the VNFM is down; the VNFC on node2 is killed and
// restarted, and once the store holds its vnfc.failed and vnfc.recovered
// for the receiver, the failure is cleaned up (the CIB forgets it: only
// the store still has the events). node1, where the bridge runs, then
// loses power. The bridge starts on another node, the VNFM comes back,
// and the new bridge delivers the events from the store.
func (e *eventsEnv) bridgeFailover(t *testing.T) {
	const dead, victim = "node1", "node2"
	e.waitPools(t, 30*time.Second, "all UP before the VNFM stops", e.all)
	if on := e.bridgeNode(t); on != dead {
		t.Fatalf("the bridge runs on %s, not %s", on, dead)
	}
	e.vm.Stop(t)
	_, id := e.killVNFC(t, victim)
	want := []string{id, id + "/recovered"}
	owed := e.waitOwed(t, "node3", want)
	if out, err := e.l.Exec(e.ctx, "node3", "crm_resource", "--cleanup", "--resource", "app", "--node", victim); err != nil {
		t.Fatalf("crm_resource --cleanup: %v\n%s", err, out)
	}
	labtest.Eventually(t, 20*time.Second, 200*time.Millisecond, "the CIB forgets the failure on "+victim, func() (bool, string) {
		f := e.failureID(t, "node3", victim)
		return f == "", "failure record: " + f
	})

	killed := time.Now()
	if err := e.l.Kill(dead); err != nil {
		t.Fatal(err)
	}
	var on string
	c := crmwrap.New(e.l.Runner("node3"))
	labtest.Eventually(t, 60*time.Second, 100*time.Millisecond, "the bridge started on another node", func() (bool, string) {
		st, err := c.Status(e.ctx)
		if err != nil {
			return false, err.Error()
		}
		on = ""
		for n, role := range st.Roles("bridge") {
			if role == "Started" {
				on = n
			}
		}
		return on != "" && on != dead, fmt.Sprintf("bridge on %q", on)
	})
	started := time.Now()
	// Still owed: the old bridge delivered nothing (its VNFM was down),
	// and the store is in the CIB, not on the dead node.
	now := e.owed(t, on, sinkReceiver)
	for _, id := range want {
		if _, ok := now[id]; !ok {
			t.Errorf("%s is no longer owed to the receiver after the loss of %s: %v", id, dead, slices.Sorted(maps.Keys(now)))
		}
	}
	back := time.Now()
	e.vm.Start(t)
	e.waitDelivered(t, back, owed)
	t.Logf("%s lost: the bridge started on %s %s later; the VNFM back %s after the loss", dead, on,
		started.Sub(killed).Round(time.Millisecond), back.Sub(killed).Round(time.Millisecond))
	// The lost node's VNFC, which the new bridge derived (the old one
	// died with it): vnfc.lost and its Heal.
	lh := e.vm.WaitHook(t, 60*time.Second, "vnfc.lost of "+dead, func(h labvnfm.Hook) bool {
		return h.At.After(back) && h.Type == delivery.VNFCLost && h.Data.Node == dead
	})
	heal := e.vm.WaitHeal(t, 30*time.Second, vnfcID(dead), e.vm.SeqAt(t, back))
	e.checkHeal(t, heal, lh.ID)
	e.waitOpCompleted(t, heal)

	if err := e.l.Start(dead); err != nil {
		t.Fatal(err)
	}
	e.waitPools(t, 120*time.Second, dead+" back: all UP", e.all)
	waitIdleOn(t, e.l, "node3")
}

// noSecrets: after all of the above, neither the webhook's secret nor the
// OAuth client's is in any bridge's log (debug level), in /v1/status, in
// the metrics or in the CIB (the store and the vnfha-ran records).
func (e *eventsEnv) noSecrets(t *testing.T) {
	on := e.bridgeNode(t)
	places := map[string][]byte{
		"/v1/status on " + on: e.bridgeGet(t, on, "/v1/status"),
		"/metrics on " + on:   e.bridgeGet(t, on, "/metrics"),
	}
	cib, err := e.l.Exec(e.ctx, on, "cibadmin", "--query")
	if err != nil {
		t.Fatalf("cibadmin --query: %v", err)
	}
	places["the CIB"] = cib
	for _, n := range e.l.Nodes() {
		b, err := os.ReadFile(filepath.Join(e.l.NodeDir(n), "log-pacemaker", "vnfc-bridge.log"))
		if errors.Is(err, fs.ErrNotExist) {
			continue // the bridge never ran there
		}
		if err != nil {
			t.Fatalf("the bridge's log on %s: %v", n, err)
		}
		places["the bridge's log on "+n] = b
	}
	if _, ok := places["the bridge's log on "+on]; !ok {
		t.Fatalf("no bridge log on %s, where it runs", on)
	}
	for where, b := range places {
		for i, s := range e.secrets.Values {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s holds secret #%d", where, i)
			}
		}
	}
	if !bytes.Contains(places["/metrics on "+on], []byte("vnfha_bridge_deliveries_total")) {
		t.Errorf("/metrics on %s has no vnfha_bridge_deliveries_total: not the bridge's metrics?", on)
	}
}

// waitDelivered waits until the receiver has accepted every event of
// owed (the store's, while the receiver was away), and then until the
// store owes the receiver none of them: it logs how long after back
// (when the VNFM answered again) the last arrived, and how many arrived
// more than once (at least once allows it; the receiver drops repeats by
// id).
func (e *eventsEnv) waitDelivered(t *testing.T, back time.Time, owed map[string]storeEntry) {
	t.Helper()
	var last time.Time
	labtest.Eventually(t, 60*time.Second, 200*time.Millisecond, "every event the store held for the receiver accepted", func() (bool, string) {
		got := map[string]time.Time{}
		for _, h := range e.vm.Hooks(t) {
			if h.Verdict == vnfm.Accepted && h.At.After(back) {
				if _, ok := got[h.ID]; !ok {
					got[h.ID] = h.At
				}
			}
		}
		var missing []string
		last = time.Time{}
		for id := range owed {
			at, ok := got[id]
			if !ok {
				missing = append(missing, id)
			}
			last = maxTime(last, at)
		}
		sort.Strings(missing)
		return len(missing) == 0, fmt.Sprintf("%d of %d missing: %v", len(missing), len(owed), missing)
	})
	labtest.Eventually(t, 20*time.Second, 200*time.Millisecond, "the store owes the receiver none of them", func() (bool, string) {
		now := e.owed(t, e.bridgeNode(t), sinkReceiver)
		var still []string
		for id := range owed {
			if _, ok := now[id]; ok {
				still = append(still, id)
			}
		}
		return len(still) == 0, fmt.Sprintf("still owed: %v", still)
	})
	repeats := 0
	for _, n := range e.vm.Received(t).Events {
		if n > 1 {
			repeats++
		}
	}
	t.Logf("the VNFM back: the %d events held for it all accepted within %s; %d event ids accepted more than once so far",
		len(owed), last.Sub(back).Round(time.Millisecond), repeats)
}

// --- the cluster's side ---

// killVNFC kills the test VNFC on node with SIGKILL and waits until the
// CIB records a new failure of it, and Pacemaker has restarted it in
// place (all UP on lb1 again). It returns when the kill was sent and the
// id the failure's vnfc.failed must have, as docs/bridge.md gives it:
// <cluster>/<resource>/<node>/failed/<call-id>-<last-rc-change>.
func (e *eventsEnv) killVNFC(t *testing.T, node string) (time.Time, string) {
	t.Helper()
	from := e.liveNode(t)
	before := e.failureID(t, from, node)
	pid := vnfcdPID(t, e.l, node)
	killed := time.Now()
	if out, err := e.l.Exec(e.ctx, node, "kill", "-9", pid); err != nil {
		t.Fatalf("kill: %v %s", err, out)
	}
	var id string
	labtest.Eventually(t, 30*time.Second, 50*time.Millisecond, "the CIB records the kill on "+node, func() (bool, string) {
		id = e.failureID(t, from, node)
		return id != "" && id != before, "failure record: " + id
	})
	e.waitPools(t, 30*time.Second, "the VNFC on "+node+" restarted: all UP", e.all)
	return killed, id
}

// failureID reads, from the CIB as node from has it, the failure record
// of app on node, and returns the id its vnfc.failed event must carry;
// "" when there is none.
func (e *eventsEnv) failureID(t *testing.T, from, node string) string {
	t.Helper()
	f, ok, err := labvnfm.LastFailure(e.ctx, e.l, from, "app", node)
	if err != nil {
		t.Fatal(err)
	}
	if !ok {
		return ""
	}
	return f.ID("e2e", "app", node)
}

// storeEntry is one event of the bridge's delivery store, as the CIB
// holds it: a permanent node attribute vnfha-ev-<hash> in <nodes> whose
// value is {"v":1,"event":{...},"owed":[sinks],"done":[sinks]}
// (docs/bridge.md, "The delivery guarantee").
type storeEntry struct {
	Node, Attr string
	ID, Type   string
	Owed, Done []string
}

type cibNodes struct {
	Nodes []struct {
		Uname  string `xml:"uname,attr"`
		NVPair []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"instance_attributes>nvpair"`
	} `xml:"node"`
}

// store reads the delivery store from the CIB, as node from has it.
func (e *eventsEnv) store(t *testing.T, from string) []storeEntry {
	t.Helper()
	out, err := e.l.Exec(e.ctx, from, "cibadmin", "--query", "--scope", "nodes")
	if err != nil {
		t.Fatalf("cibadmin --query --scope nodes on %s: %v", from, err)
	}
	var ns cibNodes
	if err := xml.Unmarshal(out, &ns); err != nil {
		t.Fatalf("the CIB's nodes: %v\n%.500s", err, out)
	}
	var es []storeEntry
	for _, n := range ns.Nodes {
		for _, p := range n.NVPair {
			if !strings.HasPrefix(p.Name, "vnfha-ev-") {
				continue
			}
			var v struct {
				Event struct{ ID, Type string } `json:"event"`
				Owed  []string                  `json:"owed"`
				Done  []string                  `json:"done"`
			}
			if err := json.Unmarshal([]byte(p.Value), &v); err != nil {
				t.Fatalf("store entry %s on %s: %v: %.300s", p.Name, n.Uname, err, p.Value)
			}
			es = append(es, storeEntry{Node: n.Uname, Attr: p.Name, ID: v.Event.ID, Type: v.Event.Type, Owed: v.Owed, Done: v.Done})
		}
	}
	return es
}

// waitOwed waits until the store, as node from has it, holds every event
// of ids owed to the receiver, and returns all it owes the receiver.
func (e *eventsEnv) waitOwed(t *testing.T, from string, ids []string) map[string]storeEntry {
	t.Helper()
	var owed map[string]storeEntry
	labtest.Eventually(t, 20*time.Second, 200*time.Millisecond, "the events owed to the receiver in the store", func() (bool, string) {
		owed = e.owed(t, from, sinkReceiver)
		for _, id := range ids {
			if _, ok := owed[id]; !ok {
				return false, fmt.Sprintf("%s not owed; owed: %v", id, slices.Sorted(maps.Keys(owed)))
			}
		}
		return true, ""
	})
	return owed
}

// owed returns the store's events still owed to sink, by id.
func (e *eventsEnv) owed(t *testing.T, from, sink string) map[string]storeEntry {
	t.Helper()
	m := map[string]storeEntry{}
	for _, s := range e.store(t, from) {
		if slices.Contains(s.Owed, sink) {
			m[s.ID] = s
		}
	}
	return m
}

// bridgeNode is where the bridge runs now.
func (e *eventsEnv) bridgeNode(t *testing.T) string {
	t.Helper()
	st, err := crmwrap.New(e.l.Runner(e.liveNode(t))).Status(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	for n, role := range st.Roles("bridge") {
		if role == "Started" {
			return n
		}
	}
	t.Fatalf("the bridge runs nowhere: %+v", st.Roles("bridge"))
	return ""
}

// liveNode is a node that is up (node1 may have been killed).
func (e *eventsEnv) liveNode(t *testing.T) string {
	t.Helper()
	for _, n := range []string{"node1", "node3"} {
		if _, err := e.l.Exec(e.ctx, n, "true"); err == nil {
			return n
		}
	}
	t.Fatal("neither node1 nor node3 is up")
	return ""
}

// checkHeal checks an accepted Heal as the issue asks: of the config's
// VNF, its cause naming the event (the VNFM already checked the schema,
// the Version header and the bearer token, or it would not have accepted
// it).
func (e *eventsEnv) checkHeal(t *testing.T, r vnfm.Record, eventID string) {
	t.Helper()
	var body struct {
		VNFCInstanceID []string `json:"vnfcInstanceId"`
		Cause          string   `json:"cause"`
	}
	if err := json.Unmarshal([]byte(r.Body), &body); err != nil {
		t.Fatalf("the Heal's body: %v: %s", err, r.Body)
	}
	if r.VNFInstanceID != e2eVNF || !strings.Contains(body.Cause, eventID) {
		t.Errorf("Heal #%d of %s, cause %q: want %s and a cause naming %s", r.Seq, r.VNFInstanceID, body.Cause, e2eVNF, eventID)
	}
}

// waitOpCompleted waits until the LCM operation an accepted Heal started
// is COMPLETED, and the bridge has followed it there (its /v1/status no
// longer follows it).
func (e *eventsEnv) waitOpCompleted(t *testing.T, heal vnfm.Record) {
	t.Helper()
	labtest.Eventually(t, 30*time.Second, 200*time.Millisecond, "the Heal's operation "+heal.EventID+" followed to COMPLETED", func() (bool, string) {
		var ops []vnfm.OpOcc
		e.vm.Control(t, http.MethodGet, "/control/ops", "", &ops)
		state := "not found"
		for _, o := range ops {
			if o.ID == heal.EventID {
				state = o.OperationState
			}
		}
		if state != vnfm.Completed {
			return false, "the VNFM has it " + state
		}
		s := e.status(t, e.bridgeNode(t))
		if s.Heal == nil {
			return false, "/v1/status has no heal"
		}
		for _, f := range s.Heal.Following {
			if f.OpOccID == heal.EventID {
				return false, fmt.Sprintf("the bridge still follows it: %+v", f)
			}
		}
		return true, ""
	})
}

// fencedAt is when the fencing a vnfc.lost id names completed, to the
// second (…/lost/<unix>).
func (e *eventsEnv) fencedAt(t *testing.T, lostID string) time.Time {
	t.Helper()
	_, sec, _ := strings.Cut(lostID, "/lost/")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		t.Errorf("vnfc.lost id %q does not end with the fencing's time: %v", lostID, err)
	}
	return time.Unix(n, 0)
}

// --- small things ---

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
