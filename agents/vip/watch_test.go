package vip

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/internal/sniff"
	"github.com/vnfha/vnfha/ocf"
)

// The watch (watch.go): while the address is held, the announcer reports
// its loss at once through crm_resource --fail (the stand-in newFixture
// puts there; the controller's IPC answers nowhere in a throwaway
// namespace), never a change of stop's or start's own, and announces again
// when the link comes back and every arp_refresh.

// watchWait bounds every wait for the watcher: it reacts within
// milliseconds; the bound is for a loaded machine.
const watchWait = 10 * time.Second

// wantReport is the stand-in's record of the report for the fixture's
// instance on node1.
const wantReport = "--fail --resource vip-test --node node1"

// watched starts vip with params and the environment Pacemaker gives on
// node1 (the node's log in a file, the same for every start in a test), and
// returns that log file.
func (f *fixture) watched(t *testing.T, params map[string]string) string {
	t.Helper()
	log := filepath.Join(f.rscTmp+".log", "pacemaker.log")
	if err := os.MkdirAll(filepath.Dir(log), 0o755); err != nil {
		t.Fatal(err)
	}
	if fd, err := os.OpenFile(log, os.O_CREATE|os.O_WRONLY, 0o644); err != nil {
		t.Fatal(err)
	} else {
		fd.Close()
	}
	t.Cleanup(func() { os.RemoveAll(filepath.Dir(log)) })
	code, reason := f.runEnv(t, ocf.ActionStart, false, f.watchCase(params, log))
	if code != ocf.Success {
		t.Fatalf("start %v = %v: %s", params, code, reason)
	}
	return log
}

// watchCase is the hostileCase of an action of a watched resource.
func (f *fixture) watchCase(params map[string]string, log string) hostileCase {
	return hostileCase{params: params, env: map[string]string{
		"OCF_RESKEY_CRM_meta_on_node": "node1",
		"HA_LOGFILE":                  log,
		"HA_RSCTMP":                   f.rscTmp,
		"OCF_RESOURCE_INSTANCE":       "vip-test",
	}}
}

// waitReported waits until the stand-in crm_resource was called, then
// until the announcer has exited, and checks that it reported exactly once.
func (f *fixture) waitReported(t *testing.T, what string) {
	t.Helper()
	eventually(t, what+" reported", func() (bool, string) {
		r := f.reports(t)
		return len(r) > 0, fmt.Sprint(r)
	})
	eventually(t, "the announcer exits after its report", func() (bool, string) {
		pids := f.announcers(t)
		return len(pids) == 0, fmt.Sprint(pids)
	})
	if r := f.reports(t); len(r) != 1 || r[0] != wantReport {
		t.Errorf("reports %q, want one %q", r, wantReport)
	}
}

// waitLogged waits until the node's log has a line with text.
func waitLogged(t *testing.T, log, text string) {
	t.Helper()
	eventually(t, "the log says "+text, func() (bool, string) {
		b, _ := os.ReadFile(log)
		return strings.Contains(string(b), text), string(b)
	})
}

// noLoss checks that the watcher took no loss for a failure: it logs one
// as an error before it reports it (and may be killed before the report
// is out).
func noLoss(t *testing.T, log string) {
	t.Helper()
	b, err := os.ReadFile(log)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.Contains(line, "ERROR:") {
			t.Errorf("the watcher took a loss for a failure: %s", line)
		}
	}
}

// eventually polls cond every 10 ms until it holds, at most watchWait.
func eventually(t *testing.T, what string, cond func() (bool, string)) {
	t.Helper()
	var last string
	for end := time.Now().Add(watchWait); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
		var ok bool
		if ok, last = cond(); ok {
			return
		}
	}
	t.Fatalf("%s: not within %s (last: %s)", what, watchWait, last)
}

// setLink sets the veth end of s up or down.
func setLink(t *testing.T, s *nstest.Side, up bool) {
	t.Helper()
	nl := s.Handle(t)
	l, err := nl.LinkByIndex(s.Index)
	if err != nil {
		t.Fatal(err)
	}
	if up {
		err = nl.LinkSetUp(l)
	} else {
		err = nl.LinkSetDown(l)
	}
	if err != nil {
		t.Fatalf("set %s in %s up=%v: %v", s.Link, s.Netns, up, err)
	}
}

// waitCarrier waits until the kernel says s's link has a carrier, or has
// none: it tells userspace of a carrier change after a delay (up to a
// second: linkwatch), and a flap shorter than that it may not tell at all.
func waitCarrier(t *testing.T, s *nstest.Side, carrier bool) {
	t.Helper()
	nl := s.Handle(t)
	eventually(t, fmt.Sprintf("%s in %s with carrier=%v", s.Link, s.Netns, carrier), func() (bool, string) {
		l, err := nl.LinkByIndex(s.Index)
		if err != nil {
			return false, err.Error()
		}
		return (l.Attrs().Flags&net.FlagRunning != 0) == carrier, l.Attrs().Flags.String()
	})
}

// delAddr removes ip from s's link, as "ip addr del" by hand.
func delAddr(t *testing.T, s *nstest.Side, ip netip.Addr) {
	t.Helper()
	nl := s.Handle(t)
	l, err := nl.LinkByIndex(s.Index)
	if err != nil {
		t.Fatal(err)
	}
	as := addrsOn(t, s, ip)
	if len(as) != 1 {
		t.Fatalf("%s holds %v, want %s once", s.Link, as, ip)
	}
	if err := nl.AddrDel(l, &as[0]); err != nil {
		t.Fatalf("remove %s: %v", ip, err)
	}
}

// TestWatchReportsLoss: each way of losing the address is reported once,
// through crm_resource --fail for the instance on its node, and the
// announcer then exits; monitor agrees that the address is lost, and stop
// still succeeds.
func TestWatchReportsLoss(t *testing.T) {
	tests := []struct {
		name    string
		family  string
		params  map[string]string
		lose    func(t *testing.T, f *fixture, ip netip.Addr)
		monitor ocf.Code // what monitor says after the loss
		log     string   // what the node's log says
	}{
		{
			name: "address removed by hand", family: "IPv4",
			lose:    func(t *testing.T, f *fixture, ip netip.Addr) { delAddr(t, f.A, ip) },
			monitor: ocf.NotRunning, log: "ERROR: 198.19.255.100 was removed from veth0",
		},
		{
			name: "IPv6 address removed by hand", family: "IPv6",
			lose:    func(t *testing.T, f *fixture, ip netip.Addr) { delAddr(t, f.A, ip) },
			monitor: ocf.NotRunning, log: "ERROR: 2001:2:0:ffff::100 was removed from veth0",
		},
		{
			name: "link down", family: "IPv4",
			lose:    func(t *testing.T, f *fixture, _ netip.Addr) { setLink(t, f.A, false) },
			monitor: ocf.ErrGeneric, log: "ERROR: link veth0 holding 198.19.255.100 is administratively down (check_link)",
		},
		{
			// Admin down flushes IPv6 addresses: the address goes with it.
			name: "IPv6 link down", family: "IPv6",
			lose:    func(t *testing.T, f *fixture, _ netip.Addr) { setLink(t, f.A, false) },
			monitor: ocf.NotRunning, log: "ERROR: 2001:2:0:ffff::100 was removed from veth0",
		},
		{
			// B's end going down takes A's carrier, as a pulled cable.
			name: "carrier lost with check_link", family: "IPv4",
			lose:    func(t *testing.T, f *fixture, _ netip.Addr) { setLink(t, f.B, false) },
			monitor: ocf.ErrGeneric, log: "ERROR: link veth0 holding 198.19.255.100 lost its carrier (check_link)",
		},
		{
			name: "link deleted", family: "IPv4",
			lose: func(t *testing.T, f *fixture, _ netip.Addr) {
				nl := f.A.Handle(t)
				l, err := nl.LinkByIndex(f.A.Index)
				if err != nil {
					t.Fatal(err)
				}
				if err := nl.LinkDel(l); err != nil {
					t.Fatal(err)
				}
			},
			monitor: ocf.NotRunning, log: "ERROR: the link that held 198.19.255.100 is gone",
		},
		{
			// nodad=false: the kernel runs duplicate address detection,
			// again when the link comes back up with the address kept
			// (keep_addr_on_down); B took the address meanwhile.
			name: "duplicate address detection failed", family: "IPv6",
			params: map[string]string{"nodad": "false", "check_link": "false"},
			lose: func(t *testing.T, f *fixture, ip netip.Addr) {
				err := f.A.Do(func() error {
					return os.WriteFile("/proc/sys/net/ipv6/conf/"+f.A.Link+"/keep_addr_on_down", []byte("1"), 0o644)
				})
				if err != nil {
					t.Fatal(err)
				}
				holdOnB(t, f, ip)
				setLink(t, f.A, false)
				setLink(t, f.A, true)
			},
			monitor: ocf.ErrGeneric, log: "ERROR: 2001:2:0:ffff::100 on veth0 failed duplicate address detection",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ip := vipOf(tt.family)
			params := map[string]string{"ip": ip.String(), "arp_count": "1"}
			for k, v := range tt.params {
				params[k] = v
			}
			log := f.watched(t, params)
			if r := f.reports(t); len(r) != 0 {
				t.Fatalf("reported during start: %q", r)
			}
			tt.lose(t, f, ip)
			f.waitReported(t, tt.name)
			waitLogged(t, log, tt.log)
			waitLogged(t, log, "INFO: reported the failure of vip-test on node1 to Pacemaker through crm_resource")
			if code, reason := f.runEnv(t, ocf.ActionMonitor, false, f.watchCase(params, log)); code != tt.monitor {
				t.Errorf("monitor after the loss = %v (%s), want %v", code, reason, tt.monitor)
			}
			if code, reason := f.runEnv(t, ocf.ActionStop, false, f.watchCase(params, log)); code != ocf.Success {
				t.Errorf("stop after the loss = %v: %s", code, reason)
			}
			if r := f.reports(t); len(r) != 1 {
				t.Errorf("reports after monitor and stop: %q, want the one", r)
			}
		})
	}
}

// TestWatchQuiet: what is no failure is not reported: stop's own removal,
// start's own changes over a held address (a second start, a new prefix
// length, a new address), a carrier lost without check_link, and any loss
// with fast_fail=false. Each case ends with a check that the watcher is
// alive and looking: a loss then is reported (or, with fast_fail=false,
// logged).
func TestWatchQuiet(t *testing.T) {
	t.Run("stop", func(t *testing.T) {
		for _, family := range []string{"IPv4", "IPv6"} {
			t.Run(family, func(t *testing.T) {
				f := newFixture(t)
				ip := vipOf(family)
				params := map[string]string{"ip": ip.String(), "arp_count": "1"}
				log := f.watched(t, params)
				id := announcerOf(t, f.rscTmp, "vip-test")
				if code, reason := f.runEnv(t, ocf.ActionStop, false, f.watchCase(params, log)); code != ocf.Success {
					t.Fatalf("stop = %v: %s", code, reason)
				}
				if id.Alive() {
					t.Errorf("announcer %v survived stop", id)
				}
				if _, err := os.Stat(armedFile(f.rscTmp, "vip-test")); !os.IsNotExist(err) {
					t.Errorf("armed file left by stop: %v", err)
				}
				// The watcher is gone, and reported nothing before.
				time.Sleep(200 * time.Millisecond)
				if r := f.reports(t); len(r) != 0 {
					t.Errorf("stop was reported: %q", r)
				}
				noLoss(t, log)
			})
		}
	})

	t.Run("start again over a held address", func(t *testing.T) {
		f := newFixture(t)
		ip := vipOf("IPv4")
		params := map[string]string{"ip": ip.String(), "arp_count": "1"}
		log := f.watched(t, params)
		first := announcerOf(t, f.rscTmp, "vip-test")
		// The same parameters: the address stays, the watcher is replaced.
		f.watched(t, params)
		// Another prefix length: start removes the /24 and adds a /25.
		params["cidr_netmask"] = "25"
		f.watched(t, params)
		// Another address: start removes the old one where it was.
		other := netip.MustParseAddr("198.19.255.101")
		moved := map[string]string{"ip": other.String(), "arp_count": "1"}
		f.watched(t, moved)
		if first.Alive() {
			t.Errorf("the first announcer %v survived the starts after it", first)
		}
		if got := addrsOn(t, f.A, ip); len(got) != 0 {
			t.Errorf("%s still held after ip changed: %v", ip, got)
		}
		time.Sleep(200 * time.Millisecond)
		if r := f.reports(t); len(r) != 0 {
			t.Fatalf("start's own changes were reported: %q", r)
		}
		noLoss(t, log)
		// The last start's watcher is armed.
		delAddr(t, f.A, other)
		f.waitReported(t, "the address removed after the starts")
		waitLogged(t, log, "ERROR: 198.19.255.101 was removed from veth0")
	})

	t.Run("carrier lost without check_link", func(t *testing.T) {
		f := newFixture(t)
		ip := vipOf("IPv4")
		params := map[string]string{"ip": ip.String(), "arp_count": "1", "check_link": "false"}
		log := f.watched(t, params)
		setLink(t, f.B, false)
		waitCarrier(t, f.A, false)
		// Monitor agrees: no carrier is no failure without check_link.
		if code, reason := f.runEnv(t, ocf.ActionMonitor, false, f.watchCase(params, log)); code != ocf.Success {
			t.Errorf("monitor without carrier, check_link=false = %v: %s", code, reason)
		}
		setLink(t, f.B, true)
		// The watcher saw the carrier go and come back (it announces
		// again), and reported nothing.
		waitLogged(t, log, "INFO: link veth0 is back: announcing 198.19.255.100 again")
		if r := f.reports(t); len(r) != 0 {
			t.Fatalf("a carrier loss without check_link was reported: %q", r)
		}
		delAddr(t, f.A, ip)
		f.waitReported(t, "the address removed after the flap")
	})

	t.Run("fast_fail=false", func(t *testing.T) {
		f := newFixture(t)
		ip := vipOf("IPv4")
		params := map[string]string{"ip": ip.String(), "arp_count": "1", "fast_fail": "false"}
		log := f.watched(t, params)
		if _, err := os.Stat(armedFile(f.rscTmp, "vip-test")); !os.IsNotExist(err) {
			t.Errorf("armed without fast_fail: %v", err)
		}
		delAddr(t, f.A, ip)
		waitLogged(t, log, "INFO: 198.19.255.100 was removed from veth0 (fast_fail=false: the next monitor finds it)")
		if r := f.reports(t); len(r) != 0 {
			t.Errorf("reported with fast_fail=false: %q", r)
		}
		if code, _ := f.runEnv(t, ocf.ActionMonitor, false, f.watchCase(params, log)); code != ocf.NotRunning {
			t.Errorf("monitor after the loss = %v, want not running", code)
		}
		if code, reason := f.runEnv(t, ocf.ActionStop, false, f.watchCase(params, log)); code != ocf.Success {
			t.Errorf("stop = %v: %s", code, reason)
		}
	})
}

// TestWatchNeedsCrmResource: fast_fail without crm_resource on the node is
// 5 from validate-all and start, which adds nothing; without fast_fail it
// is not needed.
func TestWatchNeedsCrmResource(t *testing.T) {
	f := newFixture(t)
	crmResourceBin = filepath.Join(t.TempDir(), "crm_resource") // none there
	before := addrSnapshot(t, f.A)
	params := map[string]string{"ip": vipOf("IPv4").String()}
	for _, action := range []string{ocf.ActionValidateAll, ocf.ActionStart} {
		code, reason := f.run(t, action, params)
		if code != ocf.ErrNotInstalled || !strings.Contains(reason, "fast_fail needs crm_resource") {
			t.Errorf("%s without crm_resource = %v: %s", action, code, reason)
		}
	}
	f.checkNothingLeft(t, "start without crm_resource", before)
	params["fast_fail"] = "false"
	f.mustRun(t, ocf.ActionValidateAll, params, ocf.Success)
	f.mustRun(t, ocf.ActionStart, params, ocf.Success)
	f.mustRun(t, ocf.ActionStop, params, ocf.Success)
}

// TestRefresh: with arp_refresh, one round of announcements every
// arp_refresh while the address is held, and none after stop; without it,
// none after start's burst.
func TestRefresh(t *testing.T) {
	for _, tt := range []struct {
		family   string
		perRound int
	}{{"IPv4", 2}, {"IPv6", 1}} {
		t.Run(tt.family, func(t *testing.T) {
			f := newFixture(t)
			ip := vipOf(tt.family)
			sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
			const refresh = time.Second
			// arp_count=1: start's one round is all start sends, so any
			// later frame is the refresh's.
			params := map[string]string{"ip": ip.String(), "arp_count": "1", "arp_refresh": "1s"}
			before := time.Now()
			log := f.watched(t, params)
			started := time.Now()
			eventually(t, "three refreshes", func() (bool, string) {
				n := announcementsOf(sn.Since(started), ip, f.A.HW)
				return n >= 3*tt.perRound, fmt.Sprintf("%d frames", n)
			})
			var at []time.Time
			for _, c := range sn.Frames() {
				if c.Gratuitous && c.TargetIP == ip {
					at = append(at, c.At)
				}
			}
			// Start's round, then rounds one refresh apart: the ticker
			// never fires early, so the k-th refresh is at least k
			// periods after start began.
			if len(at) < 4*tt.perRound {
				t.Fatalf("frames at %v", at)
			}
			for k := 1; k <= 3; k++ {
				if got := at[k*tt.perRound]; got.Before(before.Add(time.Duration(k) * refresh)) {
					t.Errorf("refresh %d at %s, less than %d × %s after start began (%s)", k,
						got.Format(time.StampMilli), k, refresh, before.Format(time.StampMilli))
				}
			}
			if code, reason := f.runEnv(t, ocf.ActionStop, false, f.watchCase(params, log)); code != ocf.Success {
				t.Fatalf("stop = %v: %s", code, reason)
			}
			stopped := time.Now()
			time.Sleep(refresh + refresh/2)
			if n := announcementsOf(sn.Since(stopped), ip, f.A.HW); n != 0 {
				t.Errorf("%d frames after stop", n)
			}
		})
	}
	t.Run("off", func(t *testing.T) {
		f := newFixture(t)
		ip := vipOf("IPv4")
		sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
		params := map[string]string{"ip": ip.String(), "arp_count": "1"}
		f.watched(t, params)
		started := time.Now()
		time.Sleep(1500 * time.Millisecond)
		if n := announcementsOf(sn.Since(started), ip, f.A.HW); n != 0 {
			t.Errorf("%d frames after start without arp_refresh", n)
		}
		if len(f.announcers(t)) != 1 {
			t.Errorf("no announcer watching: %v", f.announcers(t))
		}
	})
}

// TestReannounceWhenLinkBack: after the link's carrier goes and comes back
// while the address is held (check_link=false, or the loss would be
// reported), one full burst (arp_count rounds) is sent again.
func TestReannounceWhenLinkBack(t *testing.T) {
	for _, tt := range []struct {
		family   string
		perRound int
	}{{"IPv4", 2}, {"IPv6", 1}} {
		t.Run(tt.family, func(t *testing.T) {
			f := newFixture(t)
			ip := vipOf(tt.family)
			const count = 3
			params := map[string]string{"ip": ip.String(), "arp_count": fmt.Sprint(count), "arp_interval": "50", "check_link": "false"}
			log := f.watched(t, params)
			sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
			// Start's burst (2 more rounds, 50 ms apart) is over well
			// before the flap.
			time.Sleep(300 * time.Millisecond)
			setLink(t, f.B, false)
			waitCarrier(t, f.A, false)
			setLink(t, f.B, true)
			up := time.Now()
			want := count * tt.perRound
			eventually(t, "a burst after the link came back", func() (bool, string) {
				n := announcementsOf(sn.Since(up), ip, f.A.HW)
				return n >= want, fmt.Sprintf("%d frames", n)
			})
			waitLogged(t, log, "INFO: link veth0 is back: announcing "+ip.String()+" again")
			// One burst, not more.
			time.Sleep(300 * time.Millisecond)
			if n := announcementsOf(sn.Since(up), ip, f.A.HW); n != want {
				t.Errorf("%d frames after the link came back, want %d (%d rounds)", n, want, count)
			}
			if r := f.reports(t); len(r) != 0 {
				t.Errorf("reported: %q", r)
			}
		})
	}
}
