package vip

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/agents/vip/neigh"
	"github.com/vnfha/vnfha/internal/nstest"
	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/internal/sniff"
	"github.com/vnfha/vnfha/ocf"
)

// The watch's edge cases, found by a hostile review of issue 10 points 2
// and 3: announcements of an address that is not surely ours, a network
// namespace deleted under a held address, a report still on its way when
// stop or start ends the announcer, an announcer that is gone, and netlink
// events lost in an overrun.

// keepAddrOnDown makes A's link keep its IPv6 addresses when it goes down,
// so that the kernel runs duplicate address detection again on them when
// it comes back up (nodad=false).
func keepAddrOnDown(t *testing.T, s *nstest.Side) {
	t.Helper()
	err := s.Do(func() error {
		return os.WriteFile("/proc/sys/net/ipv6/conf/"+s.Link+"/keep_addr_on_down", []byte("1"), 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// ndOf returns the neighbour advertisements of ip from hw, and the kernel's
// duplicate address detection solicitations for ip, that s saw.
func ndOf(caps []sniff.Capture, ip netip.Addr, hw string) (nas, dads []time.Time) {
	for _, c := range caps {
		switch {
		case c.Kind == neigh.NeighborAdvertisement && c.Gratuitous && c.TargetIP == ip && c.SrcHW.String() == hw:
			nas = append(nas, c.At)
		case c.Kind == neigh.NeighborSolicitation && c.SenderIP.IsUnspecified() && c.TargetIP == ip:
			dads = append(dads, c.At)
		}
	}
	return nas, dads
}

// TestNoAnnouncementWhileUnsure: an IPv6 address whose duplicate address
// detection runs again (nodad=false, the link back with the address kept)
// is not announced until the kernel has found it unique: an unsolicited
// advertisement with the override flag would point the neighbours at this
// node while another host may hold the address (a healed partition). One
// that failed detection is never announced again (fast_fail=false keeps
// the announcer, and arp_refresh, running). One that passes gets its burst
// once detection is over.
func TestNoAnnouncementWhileUnsure(t *testing.T) {
	ip := vipOf("IPv6")
	base := map[string]string{"ip": ip.String(), "nodad": "false", "check_link": "false", "arp_count": "3", "arp_interval": "50"}
	with := func(kv ...string) map[string]string { return withParams(base, kv...) }
	for _, tt := range []struct {
		name      string
		params    map[string]string
		duplicate bool // B holds the address when A's link comes back
	}{
		{"detection fails: reported, never announced", base, true},
		{"detection fails, fast_fail=false and arp_refresh: never announced", with("fast_fail", "false", "arp_refresh", "1s"), true},
		{"detection passes: the burst after it", base, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			keepAddrOnDown(t, f.A)
			log := f.watched(t, tt.params)
			// Start's own burst (3 rounds, 50 ms apart) is over.
			time.Sleep(300 * time.Millisecond)
			sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
			if tt.duplicate {
				holdOnB(t, f, ip)
			}
			setLink(t, f.A, false)
			setLink(t, f.A, true)
			up := time.Now()
			hw := f.A.HW.String()
			switch {
			case tt.duplicate && tt.params["fast_fail"] != "false":
				f.waitReported(t, "the failed detection")
				waitLogged(t, log, "failed duplicate address detection")
			case tt.duplicate:
				waitLogged(t, log, "failed duplicate address detection: another host holds it (fast_fail=false")
				// Two refreshes' worth: none may go out.
				time.Sleep(2500 * time.Millisecond)
			default:
				eventually(t, "the burst after detection", func() (bool, string) {
					nas, _ := ndOf(sn.Since(up), ip, hw)
					var b strings.Builder
					for _, c := range sn.Since(up) {
						fmt.Fprintf(&b, "\n%s %+v", c.At.Format(time.StampMicro), c.Frame)
					}
					lb, _ := os.ReadFile(log)
					return len(nas) >= 3, fmt.Sprintf("%d advertisements%s\n%s", len(nas), b.String(), lb)
				})
			}
			nas, dads := ndOf(sn.Since(up), ip, hw)
			if len(dads) == 0 {
				t.Fatalf("B saw no duplicate address detection for %s after the link came back", ip)
			}
			if tt.duplicate {
				if len(nas) != 0 {
					t.Errorf("A advertised %s %d times after the link came back (at %v), while B holds it; detection at %v", ip, len(nas), nas, dads)
				}
				return
			}
			if nas[0].Before(dads[len(dads)-1]) {
				t.Errorf("A advertised %s at %s, before its duplicate address detection (%s) was over",
					ip, nas[0].Format(time.StampMicro), dads[len(dads)-1].Format(time.StampMicro))
			}
			if len(nas) != 3 {
				t.Errorf("%d advertisements after the link came back, want one burst of 3", len(nas))
			}
		})
	}
}

// deleteNamespace deletes s's namespace as "ip netns del" does: the bind
// mount goes, then its file.
func deleteNamespace(t *testing.T, s *nstest.Side) {
	t.Helper()
	path := filepath.Join(netnsDir, s.Netns)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
		t.Fatalf("unmount %s: %v", path, err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
}

// TestWatchNamespaceGone: the network namespace the address lives in is
// deleted (ip netns del), or deleted and made again under its name. The
// monitor then finds nothing (7); the announcer, whose sockets keep the old
// namespace alive, reports it at once (fast_fail) and, report or not,
// exits, so that the namespace and its links go: the veth's peer loses its
// carrier.
func TestWatchNamespaceGone(t *testing.T) {
	for _, tt := range []struct {
		name     string
		params   map[string]string
		recreate bool
		reported bool
	}{
		{"deleted", nil, false, true},
		{"deleted and made again", nil, true, true},
		{"deleted, fast_fail=false", map[string]string{"fast_fail": "false"}, false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			ip := vipOf("IPv4")
			params := map[string]string{"ip": ip.String(), "arp_count": "1"}
			for k, v := range tt.params {
				params[k] = v
			}
			log := f.watched(t, params)
			deleteNamespace(t, f.A)
			if tt.recreate {
				if err := newNamespace(f.A.Netns); err != nil {
					t.Fatal(err)
				}
			}
			if tt.reported {
				f.waitReported(t, "the namespace deleted")
				waitLogged(t, log, "ERROR: network namespace \""+f.A.Netns+"\" holding "+ip.String()+" is gone")
			} else {
				waitLogged(t, log, "network namespace \""+f.A.Netns+"\" holding "+ip.String()+" is gone (fast_fail=false")
				eventually(t, "the announcer exits", func() (bool, string) {
					pids := f.announcers(t)
					return len(pids) == 0, fmt.Sprint(pids)
				})
				if r := f.reports(t); len(r) != 0 {
					t.Errorf("reported with fast_fail=false: %q", r)
				}
			}
			// The old namespace is gone for good: its veth with it.
			linkGone(t, f.B)
			if code, reason := f.runEnv(t, ocf.ActionMonitor, false, f.watchCase(params, log)); code != ocf.NotRunning {
				t.Errorf("monitor after the namespace went = %v (%s), want not running", code, reason)
			}
			if code, reason := f.runEnv(t, ocf.ActionStop, false, f.watchCase(params, log)); code != ocf.Success {
				t.Errorf("stop = %v: %s", code, reason)
			}
			if ents, _ := os.ReadDir(f.rscTmp); len(ents) != 0 {
				t.Errorf("HA_RSCTMP holds %v after stop", ents)
			}
		})
	}
}

// linkGone waits until s's veth end is gone, its peer having gone with
// its namespace.
func linkGone(t *testing.T, s *nstest.Side) {
	t.Helper()
	nl := s.Handle(t)
	eventually(t, "the veth's peer gone, with its namespace", func() (bool, string) {
		l, err := nl.LinkByIndex(s.Index)
		if err != nil {
			var nf netlink.LinkNotFoundError
			return errors.As(err, &nf), err.Error()
		}
		return false, fmt.Sprintf("%s %s", l.Attrs().Name, l.Attrs().Flags)
	})
}

// newNamespace makes a named network namespace with "ip netns add"; the
// fixture's cleanup deletes it by its name.
func newNamespace(name string) error {
	if out, err := exec.Command("ip", "netns", "add", name).CombinedOutput(); err != nil {
		return fmt.Errorf("ip netns add %s: %v: %s", name, err, out)
	}
	return nil
}

// slowCrmResource is a stand-in for crm_resource that says it began, takes
// a second, then records its arguments: a report through the fallback
// that is still on its way.
func slowCrmResource(t *testing.T, f *fixture) (began string) {
	t.Helper()
	dir := t.TempDir()
	began = filepath.Join(dir, "began")
	bin := filepath.Join(dir, "crm_resource")
	script := "#!/bin/sh\necho $$ >> " + began + "\nsleep 1\necho \"$@\" >> " + f.calls + "\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	crmResourceBin = bin // newFixture's cleanup puts back the original
	return began
}

// TestReportInFlightEndsWithAnnouncer: stop, or a start over the resource,
// ends the announcer while its report is on its way (crm_resource as the
// fallback, a second long); the report must end with it: one that lands
// after stop records a failure against a resource that stopped (or has
// just been started again), and Pacemaker recovers it for nothing. Nothing
// the announcer ran may outlive it.
func TestReportInFlightEndsWithAnnouncer(t *testing.T) {
	for _, action := range []string{ocf.ActionStop, ocf.ActionStart} {
		t.Run(action, func(t *testing.T) {
			f := newFixture(t)
			began := slowCrmResource(t, f)
			ip := vipOf("IPv4")
			params := map[string]string{"ip": ip.String(), "arp_count": "1"}
			log := f.watched(t, params)
			delAddr(t, f.A, ip)
			var reporter int
			eventually(t, "the report under way", func() (bool, string) {
				b, _ := os.ReadFile(began)
				reporter, _ = strconv.Atoi(strings.TrimSpace(string(b)))
				return reporter > 0, string(b)
			})
			rid, err := procid.Of(reporter)
			if err != nil {
				t.Fatalf("the reporting crm_resource: %v", err)
			}
			if code, reason := f.runEnv(t, action, false, f.watchCase(params, log)); code != ocf.Success {
				t.Fatalf("%s during the report = %v: %s", action, code, reason)
			}
			if !rid.WaitExit(300 * time.Millisecond) {
				t.Errorf("the announcer's crm_resource %v outlived %s", rid, action)
			}
			time.Sleep(1500 * time.Millisecond) // the stand-in's second, and more
			if r := f.reports(t); len(r) != 0 {
				t.Errorf("a report landed after %s: %q", action, r)
			}
			if action == ocf.ActionStart {
				f.mustRun(t, ocf.ActionStop, params, ocf.Success)
			}
		})
	}
}

// TestMonitorAnnouncerGone: monitor says when the announcer that start
// left is gone (killed: the OOM killer, an operator): 190 (degraded) with
// the reason, so that crm_mon shows that a loss will wait for the next
// monitor, and Pacemaker recovers nothing. Two reads, no fork. Without an
// announcer to expect (fast_fail=false, arp_count=0, no arp_refresh; or an
// address recorded by an agent before the watch, whose announcer ended
// after its burst) it stays 0.
func TestMonitorAnnouncerGone(t *testing.T) {
	ip := vipOf("IPv4")
	t.Run("killed", func(t *testing.T) {
		f := newFixture(t)
		params := map[string]string{"ip": ip.String(), "arp_count": "1"}
		f.mustRun(t, ocf.ActionStart, params, ocf.Success)
		f.mustRun(t, ocf.ActionMonitor, params, ocf.Success)
		id := announcerOf(t, f.rscTmp, "vip-test")
		if err := id.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		if !id.WaitExit(5 * time.Second) {
			t.Fatal("announcer survived SIGKILL")
		}
		for _, probe := range []bool{false, true} {
			code, reason := f.runEnv(t, ocf.ActionMonitor, probe, hostileCase{params: params})
			if code != ocf.Degraded || !strings.Contains(reason, "announcer") {
				t.Errorf("monitor (probe %v) without its announcer = %v (%s), want degraded, naming the announcer", probe, code, reason)
			}
		}
		f.mustRun(t, ocf.ActionStop, params, ocf.Success)
	})
	t.Run("none expected", func(t *testing.T) {
		f := newFixture(t)
		params := map[string]string{"ip": ip.String(), "arp_count": "0", "fast_fail": "false"}
		f.mustRun(t, ocf.ActionStart, params, ocf.Success)
		if pids := f.announcers(t); len(pids) != 0 {
			t.Fatalf("an announcer runs with nothing to do: %v", pids)
		}
		f.mustRun(t, ocf.ActionMonitor, params, ocf.Success)
		f.mustRun(t, ocf.ActionStop, params, ocf.Success)
	})
	t.Run("recorded by an older agent", func(t *testing.T) {
		f := newFixture(t)
		params := map[string]string{"ip": ip.String(), "arp_count": "1"}
		f.mustRun(t, ocf.ActionStart, params, ocf.Success)
		f.killAnnouncers(t)
		// The record as the agent before the watch wrote it: no
		// announcer field.
		path := recordFile(f.rscTmp, "vip-test")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		delete(m, "announcer")
		if b, err = json.Marshal(m); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Remove(pidFile(f.rscTmp, "vip-test"))
		f.mustRun(t, ocf.ActionMonitor, params, ocf.Success)
		f.mustRun(t, ocf.ActionStop, params, ocf.Success)
	})
}

// eventSocketDrops sums the drops of the netlink sockets in s's namespace
// that listen to link and IPv4 address events (the announcer's), from
// /proc/net/netlink as seen from inside the namespace.
func eventSocketDrops(t *testing.T, s *nstest.Side) int {
	t.Helper()
	drops := 0
	err := s.Do(func() error {
		fh, err := os.Open("/proc/thread-self/net/netlink")
		if err != nil {
			return err
		}
		defer fh.Close()
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			// sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode
			f := strings.Fields(sc.Text())
			if len(f) < 10 || f[1] != "0" {
				continue
			}
			groups, err := strconv.ParseUint(f[3], 16, 32)
			if err != nil || groups != unix.RTMGRP_LINK|unix.RTMGRP_IPV4_IFADDR {
				continue
			}
			n, _ := strconv.Atoi(f[8])
			drops += n
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
	return drops
}

// flood makes address events in s's namespace, on lo, until the
// announcer's event socket has dropped some (it is stopped meanwhile, so
// its queue only fills): n additions and removals, a few times at most.
func flood(t *testing.T, s *nstest.Side) {
	t.Helper()
	nl := s.Handle(t)
	lo, err := nl.LinkByName("lo")
	if err != nil {
		t.Fatal(err)
	}
	const n = 2000
	for round := 0; round < 5 && eventSocketDrops(t, s) == 0; round++ {
		for i := 0; i < n; i++ {
			a := &netlink.Addr{IPNet: netlink.NewIPNet(netip.AddrFrom4([4]byte{198, 19, 200 + byte(i/250), byte(i%250 + 1)}).AsSlice())}
			if err := nl.AddrAdd(lo, a); err != nil {
				t.Fatalf("flood: %v", err)
			}
			if err := nl.AddrDel(lo, a); err != nil {
				t.Fatalf("flood: %v", err)
			}
		}
	}
	if eventSocketDrops(t, s) == 0 {
		t.Fatal("the announcer's event socket dropped nothing: no overrun to test")
	}
}

// TestWatchOverrun: events the kernel drops because the announcer's
// socket is full (ENOBUFS) hide nothing: the announcer reads the whole
// state again. It is stopped (SIGSTOP) while a flood of address events on
// another link fills its socket and the change happens, then let go.
func TestWatchOverrun(t *testing.T) {
	ip := vipOf("IPv4")
	for _, tt := range []struct {
		name   string
		params map[string]string
		change func(t *testing.T, f *fixture)
		check  func(t *testing.T, f *fixture, sn *sniff.Sniffer, since time.Time)
	}{
		{
			name:   "address removed",
			params: map[string]string{"ip": ip.String(), "arp_count": "1"},
			change: func(t *testing.T, f *fixture) { delAddr(t, f.A, ip) },
			check: func(t *testing.T, f *fixture, _ *sniff.Sniffer, _ time.Time) {
				f.waitReported(t, "the removal hidden by the overrun")
			},
		},
		{
			// The link went and came back while the events were lost:
			// the burst is owed all the same.
			name:   "link flap",
			params: map[string]string{"ip": ip.String(), "arp_count": "2", "arp_interval": "50", "check_link": "false"},
			change: func(t *testing.T, f *fixture) {
				setLink(t, f.B, false)
				waitCarrier(t, f.A, false)
				setLink(t, f.B, true)
				waitCarrier(t, f.A, true)
			},
			check: func(t *testing.T, f *fixture, sn *sniff.Sniffer, since time.Time) {
				eventually(t, "a burst after the flap", func() (bool, string) {
					n := announcementsOf(sn.Since(since), ip, f.A.HW)
					return n >= 4, fmt.Sprintf("%d frames", n)
				})
				if r := f.reports(t); len(r) != 0 {
					t.Errorf("reported: %q", r)
				}
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.watched(t, tt.params)
			time.Sleep(300 * time.Millisecond) // start's burst is over
			id := announcerOf(t, f.rscTmp, "vip-test")
			sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
			if err := id.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			cont := func() { _ = id.Signal(syscall.SIGCONT) }
			t.Cleanup(cont)
			flood(t, f.A)
			tt.change(t, f)
			since := time.Now()
			cont()
			tt.check(t, f, sn, since)
		})
	}
}

// TestReannounceFastFailOff: with fast_fail=false the announcer still
// stays, and the link's return is announced even with check_link=true
// (the link's loss is then a failure the next monitor finds, and logged).
func TestReannounceFastFailOff(t *testing.T) {
	f := newFixture(t)
	ip := vipOf("IPv4")
	params := map[string]string{"ip": ip.String(), "arp_count": "2", "arp_interval": "50", "fast_fail": "false"}
	log := f.watched(t, params)
	time.Sleep(300 * time.Millisecond)
	sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
	setLink(t, f.B, false)
	waitLogged(t, log, "lost its carrier (check_link) (fast_fail=false: the next monitor finds it)")
	setLink(t, f.B, true)
	up := time.Now()
	eventually(t, "a burst after the link came back", func() (bool, string) {
		n := announcementsOf(sn.Since(up), ip, f.A.HW)
		return n >= 4, fmt.Sprintf("%d frames", n)
	})
	if r := f.reports(t); len(r) != 0 {
		t.Errorf("reported with fast_fail=false: %q", r)
	}
}

// TestReannounceAfterAdminFlap: the link set down and up again on the node
// itself ("ip link set eth0 down; ... up", check_link=false: IPv4 keeps
// the address) gets the whole burst, its first round included: the
// announcer's packet socket, which the kernel marked ENETDOWN when the
// link went down, must not lose that round to the stale error.
func TestReannounceAfterAdminFlap(t *testing.T) {
	f := newFixture(t)
	ip := vipOf("IPv4")
	const count = 3
	params := map[string]string{"ip": ip.String(), "arp_count": strconv.Itoa(count), "arp_interval": "50", "check_link": "false"}
	log := f.watched(t, params)
	time.Sleep(300 * time.Millisecond)
	sn := sniff.Start(t, f.B.Do, f.B.Index, f.B.Link)
	setLink(t, f.A, false)
	waitCarrier(t, f.A, false)
	setLink(t, f.A, true)
	up := time.Now()
	want := 2 * count // arp_mode=both
	eventually(t, "a burst after the link came back", func() (bool, string) {
		n := announcementsOf(sn.Since(up), ip, f.A.HW)
		var b strings.Builder
		for _, c := range sn.Since(up) {
			fmt.Fprintf(&b, "\n%s %+v", c.At.Format(time.StampMicro), c.Frame)
		}
		lb, _ := os.ReadFile(log)
		return n >= want, fmt.Sprintf("%d frames%s\n%s", n, b.String(), lb)
	})
	time.Sleep(300 * time.Millisecond)
	if n := announcementsOf(sn.Since(up), ip, f.A.HW); n != want {
		t.Errorf("%d frames after the link came back, want %d", n, want)
	}
	b, _ := os.ReadFile(log)
	if strings.Contains(string(b), "WARNING") {
		t.Errorf("the node's log has a warning:\n%s", b)
	}
}

// TestWatchRenamedLink: the link holding the address renamed (down,
// rename, up; check_link=false so that the flap itself is no failure).
// With nic set, monitor then fails (the address is not on nic): the
// announcer reports it too. Without nic, the renamed link keeps the
// address as this resource's: no report, monitor 0.
func TestWatchRenamedLink(t *testing.T) {
	ip := vipOf("IPv4")
	for _, tt := range []struct {
		name    string
		nic     string
		monitor ocf.Code
	}{
		{"nic set", nstest.LinkName, ocf.ErrGeneric},
		{"nic not set", "", ocf.Success},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			params := map[string]string{"ip": ip.String(), "arp_count": "1", "check_link": "false", "nic": tt.nic}
			log := f.watched(t, params)
			renameLink(t, f.A, nstest.LinkName, "vethx")
			if tt.monitor != ocf.Success {
				f.waitReported(t, "the rename")
				waitLogged(t, log, "ERROR: "+ip.String()+" is on vethx, not on nic veth0 (renamed)")
			} else {
				// The burst after the flap is the sign the announcer
				// has seen the link back, renamed.
				waitLogged(t, log, "INFO: link vethx is back")
				if r := f.reports(t); len(r) != 0 {
					t.Errorf("reported: %q", r)
				}
			}
			if code, reason := f.runEnv(t, ocf.ActionMonitor, false, f.watchCase(params, log)); code != tt.monitor {
				t.Errorf("monitor after the rename = %v (%s), want %v", code, reason, tt.monitor)
			}
			f.mustRun(t, ocf.ActionStop, params, ocf.Success)
		})
	}
}

// TestCloneInstancesOneNode: two instances of a globally-unique clone on
// one node (vip:0, vip:1) with the same address: the second cannot take
// the first's address (2, nothing changed), its stop touches nothing, and
// the first's announcer reports nothing of it and still watches.
func TestCloneInstancesOneNode(t *testing.T) {
	f := newFixture(t)
	ip := vipOf("IPv4")
	params := map[string]string{"ip": ip.String(), "arp_count": "1"}
	first := f.watchCase(params, "")
	first.env["OCF_RESOURCE_INSTANCE"] = "vip:0"
	delete(first.env, "HA_LOGFILE")
	second := f.watchCase(params, "")
	second.env["OCF_RESOURCE_INSTANCE"] = "vip:1"
	delete(second.env, "HA_LOGFILE")
	if code, reason := f.runEnv(t, ocf.ActionStart, false, first); code != ocf.Success {
		t.Fatalf("start vip:0 = %v: %s", code, reason)
	}
	code, reason := f.runEnv(t, ocf.ActionStart, false, second)
	if code != ocf.ErrArgs || !strings.Contains(reason, "not added by this resource") {
		t.Errorf("start vip:1 over vip:0's address = %v (%s), want 2", code, reason)
	}
	if code, reason := f.runEnv(t, ocf.ActionStop, false, second); code != ocf.Success {
		t.Errorf("stop vip:1 = %v: %s", code, reason)
	}
	if got := addrsOn(t, f.A, ip); len(got) != 1 {
		t.Errorf("after vip:1's start and stop, %s is held %d times", ip, len(got))
	}
	if code, reason := f.runEnv(t, ocf.ActionMonitor, false, first); code != ocf.Success {
		t.Errorf("monitor vip:0 = %v: %s", code, reason)
	}
	time.Sleep(200 * time.Millisecond)
	if r := f.reports(t); len(r) != 0 {
		t.Fatalf("reported: %q", r)
	}
	delAddr(t, f.A, ip)
	eventually(t, "vip:0's loss reported", func() (bool, string) {
		r := f.reports(t)
		return len(r) == 1 && r[0] == "--fail --resource vip:0 --node node1", fmt.Sprint(r)
	})
	if code, reason := f.runEnv(t, ocf.ActionStop, false, first); code != ocf.Success {
		t.Errorf("stop vip:0 = %v: %s", code, reason)
	}
}

// TestStopJunkPidFile: what sits at the announcer's pid file is no pid
// file start wrote (those are regular files, renamed into place): a fifo,
// a symbolic link, a directory. Stop, and monitor, must neither hang on
// it, follow it, nor fail for it: a failed stop fences the node.
func TestStopJunkPidFile(t *testing.T) {
	ip := vipOf("IPv4")
	params := map[string]string{"ip": ip.String(), "arp_count": "1"}
	for _, tt := range []struct {
		name string
		make func(path string) error
	}{
		{"fifo", func(p string) error { return unix.Mkfifo(p, 0o600) }},
		{"symlink", func(p string) error { return os.Symlink("/etc/passwd", p) }},
		{"directory", func(p string) error { return os.Mkdir(p, 0o700) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.mustRun(t, ocf.ActionStart, params, ocf.Success)
			f.killAnnouncers(t)
			path := pidFile(f.rscTmp, "vip-test")
			os.Remove(path)
			if err := tt.make(path); err != nil {
				t.Fatal(err)
			}
			// The older agents' pid file, keyed by the address.
			if err := tt.make(legacyPidFile(f.rscTmp, ip)); err != nil {
				t.Fatal(err)
			}
			code, reason := f.runEnv(t, ocf.ActionMonitor, false, hostileCase{params: params})
			if code != ocf.Degraded {
				t.Errorf("monitor = %v (%s), want degraded: no announcer runs", code, reason)
			}
			if code, reason := f.runEnv(t, ocf.ActionStop, false, hostileCase{params: params}); code != ocf.Success {
				t.Errorf("stop = %v: %s", code, reason)
			}
			if got := addrsOn(t, f.A, ip); len(got) != 0 {
				t.Errorf("stop left %s: %v", ip, got)
			}
			if _, err := os.Stat("/etc/passwd"); err != nil {
				t.Errorf("/etc/passwd: %v", err)
			}
		})
	}
}
