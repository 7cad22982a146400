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
	// nsGone: the file that named the resource's network namespace is
	// gone, or names another namespace now (the watcher's sockets keep
	// the old one alive); nsName is network_namespace, for messages.
	nsGone    bool
	nsName    string
	gone      bool // the link is no more (deleted, or moved to another namespace)
	name      string
	held      bool // the recorded address, with its prefix length, is on it
	dadFailed bool
	// tentative: the kernel's duplicate address detection of the
	// address runs (nodad=false, after the link came back).
	tentative bool
	up        bool // IFF_UP
	carrier   bool // IFF_RUNNING: up with a carrier
}

// usable reports whether frames sent on the link reach anyone.
func (s linkState) usable() bool { return !s.nsGone && !s.gone && s.up && s.carrier }

// announceable reports whether the address may be announced now: held,
// on a usable link, and surely this node's. An IPv6 address under
// duplicate address detection, or one that failed it, may be another
// host's: an unsolicited advertisement with the override flag would point
// the neighbours at this node all the same (RFC 4862 forbids it for a
// tentative address).
func (s linkState) announceable() bool {
	return s.usable() && s.held && !s.dadFailed && !s.tentative
}

// lost says why the address is lost, as monitor would find it (7, or 1),
// or "" while it is held: the watcher reports what the next monitor would
// report, and nothing the monitor would call running. nic is the
// parameter ("" when not set): a link renamed away from it fails the
// monitor (the link's index keeps the address this resource's).
func (s linkState) lost(ip netip.Addr, checkLink bool, nic string) string {
	switch {
	case s.nsGone:
		return fmt.Sprintf("network namespace %s holding %s is gone", ocf.Quote(s.nsName), ip)
	case s.gone:
		return fmt.Sprintf("the link that held %s is gone", ip)
	case !s.held:
		return fmt.Sprintf("%s was removed from %s", ip, s.name)
	case nic != "" && s.name != nic:
		return fmt.Sprintf("%s is on %s, not on nic %s (renamed)", ip, s.name, nic)
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
			s.tentative = s.tentative || h.tentative()
		}
	}
	return s, nil
}

// events is a netlink socket in the resource's namespace that hears the
// kernel's link and address notifications of one family.
type events struct {
	// conn is the socket, non-blocking, through the runtime's poller:
	// a read that waits parks a goroutine, not a thread.
	conn syscall.RawConn
	link int
	// down is set when an event said the link was down or without
	// carrier. The watcher reads the link's state after the wake-up, by
	// which time a short flap may be over: this keeps the edge, so that
	// the link's return is announced all the same.
	down atomic.Bool
}

// eventBuffer is the socket's receive buffer. The events of one link are
// few; a namespace with many links can still overrun it, which the
// watcher takes as "look again, and announce if the link may have been
// away" (ENOBUFS).
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
		fd, err = unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, unix.NETLINK_ROUTE)
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
	// A non-blocking descriptor: os.NewFile hands it to the poller.
	conn, err := os.NewFile(uintptr(fd), "netlink events").SyscallConn()
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("poll link and address events: %w", err)
	}
	return &events{conn: conn, link: link}, nil
}

// run reads events until the socket fails, and wakes the watcher (a
// non-blocking send on a channel of one: wake-ups coalesce) for every
// batch that concerns the link, and after an overrun, when what was lost
// is unknown: the link may have gone down and come back meanwhile, so it
// counts as down (a burst when it is usable: a few frames too many at
// worst). It returns the error that ended it.
func (e *events) run(wake chan<- struct{}) error {
	buf := make([]byte, 64<<10)
	for {
		var n int
		var err error
		if perr := e.conn.Read(func(fd uintptr) bool {
			n, _, err = unix.Recvfrom(int(fd), buf, unix.MSG_DONTWAIT)
			return !errors.Is(err, unix.EAGAIN)
		}); perr != nil {
			return fmt.Errorf("read link and address events: %w", perr)
		}
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ENOBUFS):
			e.down.Store(true)
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
	if s.nsGone {
		b.WriteString("namespace gone, ")
	}
	fmt.Fprintf(&b, "%s up=%v carrier=%v held=%v", s.name, s.up, s.carrier, s.held)
	if s.dadFailed {
		b.WriteString(" dadfailed")
	}
	if s.tentative {
		b.WriteString(" tentative")
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

// linkSettle is how long after its link comes back the address is
// announced again. The kernel may say the link is up and running a
// moment before it lets frames out: it activates the link's queue in its
// link-watch work, and until then drops what is sent without an error.
// Measured on veth after "ip link set down; ... up" (TestReannounceAfter-
// AdminFlap): a first round sent at once was lost in about one burst in
// twelve; none was in 10 runs with 20 ms, nor in 30 with 50 ms.
const linkSettle = 50 * time.Millisecond

// nsWatch follows the file that names the resource's network namespace
// (a name under /run/netns, or the path network_namespace gives). The
// watcher's own sockets keep the namespace alive, with its links and the
// address on them, after "ip netns del" (or a container's runtime)
// removed it: without this, the address would stay on a link nobody can
// reach by name, still answering on it, until the next monitor found the
// name gone. inotify on the file's directory wakes the watcher when an
// entry of that name goes or comes (ip netns del unmounts, then unlinks);
// each wake-up then checks that the path still names the namespace the
// address is in. A namespace file that is only unmounted, or a /proc/PID
// path whose process exits, makes no event: the next monitor finds those.
type nsWatch struct {
	path string
	name string // the file's name in its directory
	id   nsID
	f    *os.File // inotify, non-blocking: read through the runtime's poller
}

// watchNetns starts following path, which names the namespace id.
func watchNetns(path string, id nsID) (*nsWatch, error) {
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("inotify: %w", err)
	}
	const mask = unix.IN_CREATE | unix.IN_DELETE | unix.IN_MOVED_FROM | unix.IN_MOVED_TO |
		unix.IN_DELETE_SELF | unix.IN_MOVE_SELF | unix.IN_ONLYDIR
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), mask); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch %s: %w", filepath.Dir(path), err)
	}
	return &nsWatch{path: path, name: filepath.Base(path), id: id, f: os.NewFile(uintptr(fd), "inotify")}, nil
}

// run wakes the watcher for every batch of events about the namespace's
// file or its directory, until reading fails.
func (n *nsWatch) run(wake chan<- struct{}) error {
	buf := make([]byte, 16<<10)
	for {
		k, err := n.f.Read(buf)
		if err != nil {
			return fmt.Errorf("read events of %s: %w", filepath.Dir(n.path), err)
		}
		if n.concerns(buf[:k]) {
			notify(wake)
		}
	}
}

// concerns reports whether a batch of inotify events names the
// namespace's file, or is about the directory itself (gone, moved) or an
// overflow. What does not parse counts: looking costs one stat.
func (n *nsWatch) concerns(b []byte) bool {
	for len(b) > 0 {
		if len(b) < unix.SizeofInotifyEvent {
			return true
		}
		mask := binary.NativeEndian.Uint32(b[4:8])
		size := int(binary.NativeEndian.Uint32(b[12:16]))
		if len(b) < unix.SizeofInotifyEvent+size {
			return true
		}
		name := strings.TrimRight(string(b[unix.SizeofInotifyEvent:unix.SizeofInotifyEvent+size]), "\x00")
		if size == 0 || name == n.name || mask&(unix.IN_Q_OVERFLOW|unix.IN_IGNORED) != 0 {
			return true
		}
		b = b[unix.SizeofInotifyEvent+size:]
	}
	return false
}

// gone reports whether the path no longer names the namespace: missing, or
// another file (another namespace made under the name, an empty mount
// point). A failure to look says nothing.
func (n *nsWatch) gone() bool {
	var st unix.Stat_t
	if err := unix.Stat(n.path, &st); err != nil {
		return errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR)
	}
	return (nsID{Dev: st.Dev, Ino: st.Ino}) != n.id
}

// watcher is the announcer's state while it runs.
type watcher struct {
	spec  announcerSpec
	log   logger
	nl    *netlink.Handle
	sock  *os.File // the packet socket
	ns    *nsWatch // nil: the node's own namespace, or no inotify
	state linkState
	// owed is set when the link came back and its burst is not sent
	// yet: the address is not announceable (duplicate address
	// detection runs again).
	owed bool
	// loss is the loss last logged without a report (not armed, or
	// fast_fail=false), so that one loss is logged once.
	loss string
	// sendFailed is set while sending fails, so that it is logged once.
	sendFailed bool
}

// read reads the namespace's file, the link and the address.
func (w *watcher) read() (linkState, error) {
	if w.ns != nil && w.ns.gone() {
		// The sockets still work in the old namespace; what they say
		// is of a namespace nothing else can reach.
		return linkState{nsGone: true, nsName: w.spec.NetnsName, name: w.state.name}, nil
	}
	return readLinkState(w.nl, w.spec.IP, w.spec.Bits, w.spec.Link)
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
		(s.Report != nil && s.Armed == "") || (s.NetnsPath != "" && !s.Netns) {
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
		if b, err := readSmall(s.PidFile); err == nil {
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
	w := &watcher{spec: s, log: log, nl: nl, sock: sock}
	if s.NetnsPath != "" {
		// Before the first look, as the events: a removal between the
		// two is seen.
		id, err := idOf(ns)
		if err != nil {
			conn.Fail("vip announcer: %v", err)
			return 1
		}
		if w.ns, err = watchNetns(s.NetnsPath, id); err != nil {
			// The monitor still finds a namespace that went.
			log.Warnf("%v: a deleted network namespace is found by the next monitor", err)
		}
	}
	// Subscribe, then look: a change between the two is in the queue.
	ev, err := openEvents(ns, s.IP, s.Link)
	if err != nil {
		conn.Fail("vip announcer: %v", err)
		return 1
	}
	if w.state, err = w.read(); err != nil {
		conn.Fail("vip announcer: %v", err)
		return 1
	}
	if why := w.state.lost(s.IP, s.CheckLink, s.Nic); why != "" {
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
// the watch, until a loss is reported, the namespace is gone, or stop
// kills it.
func (w *watcher) run(ev *events) int {
	s := w.spec
	wake := make(chan struct{}, 1)
	evErr := make(chan error, 1)
	go func() { evErr <- ev.run(wake) }()
	if w.ns != nil {
		go func() {
			if err := w.ns.run(wake); err != nil {
				w.log.Warnf("%v: a deleted network namespace is found by the next monitor", err)
			}
		}()
	}

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
		st, err := w.read()
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
		if back && s.Burst > 0 {
			// The neighbours may have learnt another holder while the
			// link was away (a switch-port flap, a healed partition):
			// a full burst, once the address may be announced.
			w.owed = true
		}
		if why := st.lost(s.IP, s.CheckLink, s.Nic); why != "" {
			if w.lose(why) {
				return 0
			}
			if st.nsGone {
				// Unreported (fast_fail=false, or a stop has it): end
				// all the same, so that the namespace and its links go
				// instead of answering for an address nobody manages.
				return 0
			}
			continue
		}
		w.loss = ""
		if w.owed && st.announceable() {
			// The burst's first round goes out linkSettle from now,
			// the others arp_interval apart (the burst timer's case).
			w.owed = false
			w.log.Infof("link %s is back: announcing %s again", st.name, s.IP)
			left = s.Burst
			burst.Reset(linkSettle)
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

// send sends one round of the announcement while the address may be
// announced (see announceable).
func (w *watcher) send(what string) {
	if !w.state.announceable() {
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
