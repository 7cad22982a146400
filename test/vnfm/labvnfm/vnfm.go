package labvnfm

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/bridge/delivery"
	"github.com/vnfha/vnfha/lab"
	"github.com/vnfha/vnfha/lab/labtest"
	"github.com/vnfha/vnfha/test/vnfm"
)

// Build builds the test VNFM's binary where every lab host reads it.
func Build(t testing.TB) string {
	t.Helper()
	return labtest.BuildPublic(t, "./test/vnfm/cmd/vnfm", "vnfm")
}

// Options say how to run one test VNFM.
type Options struct {
	Host string // the lab host it runs on
	Port uint16
	// Name is its subdirectory of Dir (its PKI and state) and its log's
	// name (Dir/<Name>.log).
	Name string
	// Dir is a directory every lab member reads (ocftest.PublicDir).
	Dir     string
	Bin     string // from Build
	Secrets Secrets
	// ClientID is the OAuth client the VNFM's token endpoint knows.
	ClientID string
	// VNF and VNFCs are the instance it holds: a Heal of another is
	// refused.
	VNF   string
	VNFCs []string
	// Polls is how many reads of an LCM operation it takes to reach
	// COMPLETED (the VNFM's -polls).
	Polls int
}

// VNFM is the test VNFM running as a process on a lab host, with its own
// test CA, driven through its /control/ API over TLS from the lab's
// client. Its record is kept in its state directory, so that a restart
// (Stop, then Start) keeps what it received.
type VNFM struct {
	Proc *HostProc
	PKI  *vnfm.PKI
	Base string // https://addr:port
	hc   *http.Client
}

// Start makes the VNFM's PKI (a CA of its own, a server certificate for
// its host's address), runs it, and stops it when the test ends.
func Start(t testing.TB, l *lab.Lab, o Options) *VNFM {
	t.Helper()
	host, err := l.HostAddr(o.Host)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(o.Dir, o.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	pki, err := vnfm.NewPKI(dir, host.String())
	if err != nil {
		t.Fatal(err)
	}
	addr := netip.AddrPortFrom(host, o.Port)
	argv := []string{o.Bin, "-listen", addr.String(), "-tls-cert", pki.ServerCert, "-tls-key", pki.ServerKey,
		"-client-id", o.ClientID, "-client-secret-file", o.Secrets.ClientFile, "-webhook-secret-file", o.Secrets.WebhookFile,
		"-instance", o.VNF + "=" + strings.Join(o.VNFCs, ","), "-state-dir", filepath.Join(dir, "state")}
	if o.Polls > 0 {
		argv = append(argv, "-polls", strconv.Itoa(o.Polls))
	}
	v := &VNFM{PKI: pki, Base: "https://" + addr.String(),
		Proc: &HostProc{L: l, Host: o.Host, Addr: addr.String(), Log: filepath.Join(o.Dir, o.Name+".log"), Argv: argv}}
	tc, err := pki.ClientTLS(false)
	if err != nil {
		t.Fatal(err)
	}
	v.hc = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: true,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return l.Dial(ctx, lab.ClientName, network, addr)
		}}}
	t.Cleanup(func() { v.Proc.Stop(t) })
	v.Start(t)
	return v
}

// Start runs the VNFM (again) and waits until its API answers.
func (v *VNFM) Start(t testing.TB) {
	t.Helper()
	v.Proc.Start(t)
	labtest.Eventually(t, 15*time.Second, 50*time.Millisecond, "the test VNFM on "+v.Proc.Addr+" answers", func() (bool, string) {
		if v.Proc.Exited() {
			t.Fatalf("the test VNFM on %s exited:\n%s", v.Proc.Addr, v.Proc.LogTail(20))
		}
		resp, err := v.hc.Get(v.Base + "/control/tokens")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, resp.Status
	})
}

// Stop ends the VNFM (its record stays in its state directory).
func (v *VNFM) Stop(t testing.TB) {
	t.Helper()
	v.Proc.Stop(t)
}

// Control calls the control API; body is JSON text or ""; out, if not
// nil, receives the JSON answer.
func (v *VNFM) Control(t testing.TB, method, path, body string, out any) {
	t.Helper()
	req, err := http.NewRequestWithContext(labtest.Context(t), method, v.Base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := v.hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil || resp.StatusCode >= 300 {
		t.Fatalf("%s %s: %s %v: %.300s", method, path, resp.Status, err, b)
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
	}
}

// Received is every request the VNFM received, in order.
func (v *VNFM) Received(t testing.TB) vnfm.Received {
	t.Helper()
	var r vnfm.Received
	v.Control(t, http.MethodGet, "/control/received", "", &r)
	return r
}

// LastSeq is the sequence number of the newest request received.
func (v *VNFM) LastSeq(t testing.TB) int {
	t.Helper()
	recs := v.Received(t).Records
	if len(recs) == 0 {
		return 0
	}
	return recs[len(recs)-1].Seq
}

// SeqAt is the sequence number of the last request the VNFM received
// before at.
func (v *VNFM) SeqAt(t testing.TB, at time.Time) int {
	t.Helper()
	seq := 0
	for _, r := range v.Received(t).Records {
		if r.Time.Before(at) {
			seq = r.Seq
		}
	}
	return seq
}

// Hook is a webhook delivery as the receiver recorded it: accepted (its
// signature verified, its CloudEvent valid), or refused, or answered by
// a fault.
type Hook struct {
	Seq     int
	At      time.Time // when the VNFM received it (its record's Time)
	ID      string
	Type    string // the event's type: the CloudEvent's without its prefix
	Verdict string
	Data    delivery.Data
}

// Accepted reports whether the receiver accepted the delivery.
func (h Hook) Accepted() bool { return h.Verdict == vnfm.Accepted }

// HooksOf picks the webhook deliveries out of records, in order.
func HooksOf(recs []vnfm.Record) []Hook {
	var hs []Hook
	for _, r := range recs {
		if r.Endpoint != vnfm.EndpointWebhook {
			continue
		}
		h := Hook{Seq: r.Seq, At: r.Time, ID: r.EventID, Verdict: r.Verdict}
		var ce struct {
			Type string        `json:"type"`
			Data delivery.Data `json:"data"`
		}
		if json.Unmarshal([]byte(r.Body), &ce) == nil {
			h.Data = ce.Data
			for _, typ := range delivery.Types {
				if ce.Type == typ || strings.HasSuffix(ce.Type, "."+typ) {
					h.Type = typ
				}
			}
		}
		hs = append(hs, h)
	}
	return hs
}

// Hooks returns the webhook deliveries received, in order.
func (v *VNFM) Hooks(t testing.TB) []Hook {
	t.Helper()
	return HooksOf(v.Received(t).Records)
}

// WaitRecord waits until a webhook delivery matching ok was received,
// whatever its verdict, and returns the first.
func (v *VNFM) WaitRecord(t testing.TB, timeout time.Duration, what string, ok func(Hook) bool) Hook {
	t.Helper()
	var found Hook
	labtest.Eventually(t, timeout, 50*time.Millisecond, what, func() (bool, string) {
		hs := v.Hooks(t)
		for _, h := range hs {
			if ok(h) {
				found = h
				return true, ""
			}
		}
		return false, fmt.Sprintf("%d webhook deliveries, the last: %s", len(hs), LastHooks(hs, 5))
	})
	return found
}

// WaitHook waits until the receiver accepted a delivery matching ok.
func (v *VNFM) WaitHook(t testing.TB, timeout time.Duration, what string, ok func(Hook) bool) Hook {
	t.Helper()
	return v.WaitRecord(t, timeout, what, func(h Hook) bool { return h.Accepted() && ok(h) })
}

// LastHooks writes the last n of hs, for a message.
func LastHooks(hs []Hook, n int) string {
	var s []string
	for _, h := range hs[max(0, len(hs)-n):] {
		s = append(s, fmt.Sprintf("#%d %s %s (%s)", h.Seq, h.Type, h.ID, h.Verdict))
	}
	return strings.Join(s, "; ")
}

// WaitHeal waits until the VNFM accepted a Heal naming vnfc, received
// after the record's seq, and returns it.
func (v *VNFM) WaitHeal(t testing.TB, timeout time.Duration, vnfc string, after int) vnfm.Record {
	t.Helper()
	return v.WaitHealOf(t, timeout, vnfc, after, "")
}

// WaitHealOf is WaitHeal for the Heal of one event: its cause names
// eventID (the bridge puts the event's id in the cause), so that a
// repeat of an earlier event's Heal is not taken for it. "" takes any.
func (v *VNFM) WaitHealOf(t testing.TB, timeout time.Duration, vnfc string, after int, eventID string) vnfm.Record {
	t.Helper()
	var found vnfm.Record
	labtest.Eventually(t, timeout, 100*time.Millisecond, "a Heal of "+vnfc+" accepted", func() (bool, string) {
		var seen []string
		for _, r := range v.Received(t).Records {
			if r.Seq <= after || r.Endpoint != vnfm.EndpointHeal {
				continue
			}
			if r.OK() && slices.Equal(r.VNFCInstanceIDs, []string{vnfc}) && (eventID == "" || healCause(r.Body, eventID)) {
				found = r
				return true, ""
			}
			seen = append(seen, fmt.Sprintf("#%d %v %s", r.Seq, r.VNFCInstanceIDs, r.Verdict))
		}
		return false, fmt.Sprintf("Heals received: %v", seen)
	})
	return found
}

// CountHeals counts the Heals naming vnfc the VNFM accepted after seq.
func (v *VNFM) CountHeals(t testing.TB, vnfc string, after int) int {
	t.Helper()
	n := 0
	for _, r := range v.Received(t).Records {
		if r.Seq > after && r.Endpoint == vnfm.EndpointHeal && r.OK() && slices.Contains(r.VNFCInstanceIDs, vnfc) {
			n++
		}
	}
	return n
}

// healCause reports whether a HealVnfRequest's cause names eventID.
func healCause(body, eventID string) bool {
	var req struct {
		Cause string `json:"cause"`
	}
	return json.Unmarshal([]byte(body), &req) == nil && strings.Contains(req.Cause, eventID)
}
