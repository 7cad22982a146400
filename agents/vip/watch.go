package vip

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/agents/vip/neigh"
	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/internal/failreport"
	"github.com/vnfha/vnfha/internal/netnsrun"
	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/ocf"
)

// The watch: while the address is held, the helper (the announcer, which
// stays until stop) follows the kernel's link and address events in the
// resource's network namespace, and the moment the address is lost
// (removed, gone with its link, failed duplicate address detection, or with
// check_link its link down or without carrier) it tells Pacemaker through
// internal/failreport, the path vnfc's supervisor uses: the controller's
// IPC, crm_resource --fail as the fallback.
//
// Which loss is a failure is decided by "armed", the rule vnfc's
// supervisor follows: the helper reports only if its own remove of the
// armed file succeeds. Start creates the file once the helper is watching
// and the address is still held, and looks once more after; stop, and a
// start that runs again over a held address (it may remove and re-add the
// address), remove it before they change anything. So a change of the
// agent's own is never reported, whatever the interleaving, and a loss is
// reported at most once: whoever removes the file owns the loss. After a
// report the helper exits: Pacemaker stops and starts the resource, and
// that start runs a new helper.
//
// The helper stays in the node's network namespace, where the controller's
// IPC (an abstract socket, scoped by network namespace) and crm_resource
// reach the cluster; only its netlink and packet sockets are opened in the
// resource's namespace, which start hands it as a file.

// armedFile is the instance's armed file, beside its record.
func armedFile(rscTmp, instance string) string {
	return filepath.Join(rscTmp, "vnfha-vip-"+instance+".armed")
}

// arm creates the armed file: from now on a loss of the address is a
// failure to report.
func arm(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return fmt.Errorf("arm the watcher: %w", err)
	}
	return f.Close()
}

// take removes the armed file and reports whether this call removed it.
func take(path string) bool {
	return os.Remove(path) == nil
}

// crmResourceBin is crm_resource, the report's fallback; a variable so
// that tests put a stand-in there.
var crmResourceBin = "crm_resource"

// searchPath is where crm_resource is looked for: fixed, not the agent's
// PATH, as vnfc does.
const searchPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// newReport prepares what the helper needs to tell Pacemaker of a loss.
// crm_resource is looked for now, so that a node without the Pacemaker
// CLI fails start (and validate-all), not the report.
func newReport(env *ocf.Env) (*failreport.Report, error) {
	bin, err := lookCrmResource()
	if err != nil {
		return nil, err
	}
	r := failreport.New(env, bin, "vnfha-vip")
	return &r, nil
}

func lookCrmResource() (string, error) {
	name := crmResourceBin
	if filepath.IsAbs(name) {
		if isExecutable(name) {
			return name, nil
		}
	} else {
		for _, dir := range filepath.SplitList(searchPath) {
			if p := filepath.Join(dir, name); isExecutable(p) {
				return p, nil
			}
		}
	}
	return "", ocf.NotInstalled("fast_fail needs crm_resource, not found in %s", searchPath)
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular() && fi.Mode().Perm()&0o111 != 0
}

// linkState is what the watcher, and start after arming, read of the
// recorded address and its link.
type linkState struct {
	gone      bool // the link is no more (deleted, or moved to another namespace)
	name      string
	held      bool // the recorded address, with its prefix length, is on it
	dadFailed bool
	up        bool // IFF_UP
	carrier   bool // IFF_RUNNING: up with a carrier
}

// usable reports whether frames sent on the link reach anyone.
func (s linkState) usable() bool { return !s.gone && s.up && s.carrier }

// lost says why the address is lost, as monitor would find it (7, or 1),
// or "" while it is held: the watcher reports what the next monitor would
// report, and nothing the monitor would call running.
func (s linkState) lost(ip netip.Addr, checkLink bool) string {
	switch {
	case s.gone:
		return fmt.Sprintf("the link that held %s is gone", ip)
	case !s.held:
		return fmt.Sprintf("%s was removed from %s", ip, s.name)
	case s.dadFailed:
		return fmt.Sprintf("%s on %s failed duplicate address detection: another host holds it", ip, s.name)
	case checkLink && !s.up:
		return fmt.Sprintf("link %s holding %s is administratively down (check_link)", s.name, ip)
	case checkLink && !s.carrier:
		return fmt.Sprintf("link %s holding %s lost its carrier (check_link)", s.name, ip)
	}
	return ""
}

// readLinkState reads the link with index link and whether it holds ip/bits:
// one link request and one address dump of the link.
func readLinkState(nl *netlink.Handle, ip netip.Addr, bits, link int) (linkState, error) {
	l, err := nl.LinkByIndex(link)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) || errors.Is(err, unix.ENODEV) {
			return linkState{gone: true}, nil
		}
		return linkState{}, fmt.Errorf("read link %d: %w", link, err)
	}
	a := l.Attrs()
	s := linkState{name: a.Name, up: a.Flags&net.FlagUp != 0, carrier: a.Flags&net.FlagRunning != 0}
	addrs, err := nl.AddrList(l, family(ip))
	if err != nil {
		return linkState{}, fmt.Errorf("list addresses of %s: %w", a.Name, err)
	}
	for _, ad := range addrs {
		h := held{addr: ad, link: l}
		if got, ok := netip.AddrFromSlice(ad.IP); ok && got.Unmap() == ip && h.bits() == bits {
			s.held = true
			s.dadFailed = s.dadFailed || h.dadFailed()
		}
	}
	return s, nil
}

// events is a netlink socket in the resource's namespace that hears the
// kernel's link and address notifications of one family.
type events struct {
	fd   int
	link int
	// down is set when an event said the link was down or without
	// carrier. The watcher reads the link's state after the wake-up, by
	// which time a short flap may be over: this keeps the edge, so that
	// the link's return is announced all the same.
	down atomic.Bool
}

// eventBuffer is the socket's receive buffer. The events of one link are
// few; a namespace with many links can still overrun it, which the
// watcher takes as "look again" (ENOBUFS).
const eventBuffer = 1 << 20

// openEvents opens the event socket in ns (netns.None(): the calling
// thread's). The subscription comes before the watcher's first look, so
// that no change falls between the two.
func openEvents(ns netns.NsHandle, ip netip.Addr, link int) (*events, error) {
	groups := uint32(unix.RTMGRP_LINK)
	if ip.Is4() {
		groups |= unix.RTMGRP_IPV4_IFADDR
	} else {
		groups |= unix.RTMGRP_IPV6_IFADDR
	}
	var fd int
	open := func() error {
		var err error
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_ROUTE)
		if err != nil {
			return fmt.Errorf("open netlink socket: %w", err)
		}
		if err := unix.Bind(fd, &unix.SockaddrNetlink{Family: unix.AF_NETLINK, Groups: groups}); err != nil {
			unix.Close(fd)
			return fmt.Errorf("subscribe to link and address events: %w", err)
		}
		return nil
	}
	var err error
	if ns.IsOpen() {
		err = netnsrun.Run(ns, open)
	} else {
		err = open()
	}
	if err != nil {
		return nil, err
	}
	// Root may exceed rmem_max; a smaller buffer only means more ENOBUFS.
	if unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, eventBuffer) != nil {
		_ = unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_RCVBUF, eventBuffer)
	}
	return &events{fd: fd, link: link}, nil
}

// run reads events until the socket fails, and wakes the watcher (a
// non-blocking send on a channel of one: wake-ups coalesce) for every
// batch that concerns the link, and after an overrun, when what was lost
// is unknown. It returns the error that ended it.
func (e *events) run(wake chan<- struct{}) error {
	buf := make([]byte, 64<<10)
	for {
		n, _, err := unix.Recvfrom(e.fd, buf, 0)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			notify(wake)
			continue
		case err != nil:
			return fmt.Errorf("read link and address events: %w", err)
		}
		if e.concerns(buf[:n]) {
			notify(wake)
		}
	}
}

func notify(wake chan<- struct{}) {
	select {
	case wake <- struct{}{}:
	default:
	}
}

// concerns reports whether a batch of netlink messages holds a link or
// address event of the watched link. A batch that does not parse is taken
// as one that does: looking again costs two requests.
func (e *events) concerns(b []byte) bool {
	msgs, err := syscall.ParseNetlinkMessage(b)
	if err != nil {
		return true
	}
	for _, m := range msgs {
		var idx int
		switch m.Header.Type {
		case unix.RTM_NEWLINK, unix.RTM_DELLINK:
			// struct ifinfomsg: family, pad, type (u16), index (s32),
			// flags (u32), change (u32)
			if len(m.Data) < unix.SizeofIfInfomsg {
				return true
			}
			idx = int(int32(binary.NativeEndian.Uint32(m.Data[4:8])))
			const usable = unix.IFF_UP | unix.IFF_RUNNING
			if idx == e.link && binary.NativeEndian.Uint32(m.Data[8:12])&usable != usable {
				e.down.Store(true)
			}
		case unix.RTM_NEWADDR, unix.RTM_DELADDR:
			// struct ifaddrmsg: family, prefixlen, flags, scope (u8 each), index (u32)
			if len(m.Data) < unix.SizeofIfAddrmsg {
				return true
			}
			idx = int(binary.NativeEndian.Uint32(m.Data[4:8]))
		default:
			continue
		}
		if idx == e.link {
			return true
		}
	}
	return false
}

// String describes the state for the log.
func (s linkState) String() string {
	if s.gone {
		return "link gone"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s up=%v carrier=%v held=%v", s.name, s.up, s.carrier, s.held)
	if s.dadFailed {
		b.WriteString(" dadfailed")
	}
	return b.String()
}

// logger is the helper's log (ocf.NewHelperLogger).
type logger interface {
	failreport.Logger
	Debugf(format string, args ...any)
}

// retryWait is how long the watcher waits to look again after netlink
// failed to answer it.
const retryWait = time.Second

// watcher is the announcer's state while it runs.
type watcher struct {
	spec  announcerSpec
	log   logger
	nl    *netlink.Handle
	sock  *os.File // the packet socket
	state linkState
	// loss is the loss last logged without a report (not armed, or
	// fast_fail=false), so that one loss is logged once.
	loss string
	// sendFailed is set while sending fails, so that it is logged once.
	sendFailed bool
}

// runAnnouncer is the announcer's main function: "vnfha-agent --helper vip
// announce --pidfile PATH", started by start with ocf.StartHelper.
func runAnnouncer(args []string) int {
	conn, err := ocf.OpenHelper()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vip announcer:", err)
		return 2
	}
	var s announcerSpec
	if err := conn.ReadSpec(&s); err != nil {
		conn.Fail("vip announcer: %v", err)
		return 2
	}
	if s.PidFile == "" || !s.IP.IsValid() || s.Link <= 0 || s.Count < 0 || s.Burst < 0 || s.Refresh < 0 ||
		((s.Count > 0 || s.Burst > 0) && s.Interval <= 0) || ((s.Count > 0 || s.Burst > 0 || s.Refresh > 0) && len(s.Frames) == 0) ||
		(s.Report != nil && s.Armed == "") {
		conn.Fail("vip announcer: incomplete spec")
		return 2
	}
	sock, err := conn.File(0, "packet socket")
	if err != nil {
		conn.Fail("vip announcer: %v", err)
		return 2
	}
	ns := netns.None()
	if s.Netns {
		f, err := conn.File(1, "network namespace")
		if err != nil {
			conn.Fail("vip announcer: %v", err)
			return 2
		}
		// f stays referenced below, so that its finalizer never closes
		// the descriptor ns names.
		defer runtime.KeepAlive(f)
		ns = netns.NsHandle(f.Fd())
	}
	log := ocf.NewHelperLogger(s.Log, ocf.LogTag(name, s.Instance), nil)
	self, err := procid.Self()
	if err != nil {
		conn.Fail("vip announcer: %v", err)
		return 1
	}
	b, _ := json.Marshal(self)
	if err := durable.WriteFile(s.PidFile, b, 0o644); err != nil {
		conn.Fail("vip announcer: %v", err)
		return 1
	}
	defer func() {
		// Leave no stale pid file, but never remove a newer announcer's.
		if b, err := os.ReadFile(s.PidFile); err == nil {
			var id procid.ID
			if json.Unmarshal(b, &id) == nil && id == self {
				os.Remove(s.PidFile)
			}
		}
	}()
	nl, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		conn.Fail("vip announcer: open netlink: %v", err)
		return 1
	}
	defer nl.Close()
	// Subscribe, then look: a change between the two is in the queue.
	ev, err := openEvents(ns, s.IP, s.Link)
	if err != nil {
		conn.Fail("vip announcer: %v", err)
		return 1
	}
	w := &watcher{spec: s, log: log, nl: nl, sock: sock}
	if w.state, err = readLinkState(nl, s.IP, s.Bits, s.Link); err != nil {
		conn.Fail("vip announcer: %v", err)
		return 1
	}
	if why := w.state.lost(s.IP, s.CheckLink); why != "" {
		// Not armed yet: the start that runs us fails with the reason.
		conn.Fail("%s", why)
		return 1
	}
	if err := conn.Ready(); err != nil {
		// The start that ran us has gone: it did not see us ready and
		// reported a failure, so we must not announce.
		return 1
	}
	return w.run(ev)
}

// run is the announcer's loop: the rest of start's burst, the refresh, and
// the watch, until a loss is reported or stop kills it.
func (w *watcher) run(ev *events) int {
	s := w.spec
	wake := make(chan struct{}, 1)
	evErr := make(chan error, 1)
	go func() { evErr <- ev.run(wake) }()

	// One timer paces bursts: start's, and one after the link comes back.
	left := s.Count
	burst := time.NewTimer(s.Interval)
	if left == 0 {
		burst.Stop()
	}
	var refresh <-chan time.Time
	if s.Refresh > 0 {
		t := time.NewTicker(s.Refresh)
		defer t.Stop()
		refresh = t.C
	}
	var retry <-chan time.Time
	for {
		select {
		case <-burst.C:
			w.send("announcement")
			if left--; left > 0 {
				burst.Reset(s.Interval)
			}
			continue
		case <-refresh:
			w.send("refresh")
			continue
		case <-wake:
		case <-retry:
			retry = nil
		case err := <-evErr:
			w.log.Errorf("%v: the address is no longer watched; monitor still checks it", err)
			return 1
		}
		// Every wake-up looks: the events only say that something
		// changed, the kernel's tables say what holds now.
		st, err := readLinkState(w.nl, s.IP, s.Bits, s.Link)
		if err != nil {
			if retry == nil {
				w.log.Warnf("%v; looking again in %s", err, retryWait)
				retry = time.After(retryWait)
			}
			continue
		}
		// Back: usable now, and not when last seen, or down meanwhile.
		back := (ev.down.Swap(false) || !w.state.usable()) && st.usable()
		if st.String() != w.state.String() {
			w.log.Debugf("%s: %s", s.IP, st)
		}
		w.state = st
		if why := st.lost(s.IP, s.CheckLink); why != "" {
			if w.lose(why) {
				return 0
			}
			continue
		}
		w.loss = ""
		if back && s.Burst > 0 {
			// The neighbours may have learnt another holder while the
			// link was away (a switch-port flap, a healed partition):
			// a full burst, the first round now.
			w.log.Infof("link %s is back: announcing %s again", st.name, s.IP)
			w.send("announcement")
			if left = s.Burst - 1; left > 0 {
				burst.Reset(s.Interval)
			}
		}
	}
}

// lose handles a loss of the address. It reports whether the watcher's
// work is over: it took the armed file and reported.
func (w *watcher) lose(why string) bool {
	if w.spec.Report != nil && take(w.spec.Armed) {
		w.log.Errorf("%s", why)
		w.spec.Report.Tell(w.log)
		return true
	}
	if w.loss != why {
		w.loss = why
		if w.spec.Report == nil {
			w.log.Infof("%s (fast_fail=false: the next monitor finds it)", why)
		} else {
			// A stop or a new start has it: their own change.
			w.log.Infof("%s: not armed, not reported", why)
		}
	}
	return false
}

// send sends one round of the announcement while the link can carry it.
func (w *watcher) send(what string) {
	if !w.state.usable() || !w.state.held {
		return
	}
	if err := neigh.SendFile(w.sock, w.spec.Frames); err != nil {
		if !w.sendFailed {
			w.log.Warnf("%s of %s: %v", what, w.spec.IP, err)
			w.sendFailed = true
		}
		return
	}
	w.sendFailed = false
	w.log.Debugf("sent %s of %s", what, w.spec.IP)
}
