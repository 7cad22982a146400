// Package vip is ocf:vnfha:vip, a virtual IP address for active/standby
// VNFCs: the address only the active instance holds, taken over by the
// standby on failover. It does what ocf:heartbeat:IPaddr2 does, through
// netlink and a packet socket instead of ip(8), arping and send_arp, so that
// a monitor costs a few netlink requests and no fork.
package vip

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/agents/vip/neigh"
	"github.com/vnfha/vnfha/internal/failreport"
	"github.com/vnfha/vnfha/ocf"
)

// name is the agent's name, as a constant so that the helper's command
// line can be built without referring to Agent from its own handlers.
const name = "vip"

// Agent is the declaration of ocf:vnfha:vip.
var Agent = ocf.MustNew(ocf.Agent{
	Name:      name,
	Version:   "1.0",
	ShortDesc: "Virtual IPv4 or IPv6 address, announced on takeover",
	LongDesc: "Adds a virtual IP address to an interface and announces it, so that the hosts on the link " +
		"send their traffic to this node at once: gratuitous ARP for IPv4, an unsolicited neighbour " +
		"advertisement for IPv6. Before it adds the address it probes the link for another holder " +
		"(an RFC 5227 ARP probe, or a duplicate address detection solicitation for IPv6) and refuses to " +
		"start if one answers. Colocate it with the promoted instance of an active/standby VNFC.\n\n" +
		"The interface and netmask, when not given, come from the main routing table as with IPaddr2: " +
		"the connected route that contains ip with the longest prefix, then the lowest metric.\n\n" +
		"The first announcement is sent before start returns; the other arp_count - 1 are sent by a " +
		"small helper process every arp_interval. The helper stays while the address is held, and stop ends it: it " +
		"follows the kernel's address and link events, tells Pacemaker at once when the address is lost (fast_fail), " +
		"and announces the address again when its link comes back and every arp_refresh. Monitor forks nothing: it reads " +
		"the address and link state over netlink.",
	Params: []ocf.Param{
		{
			Name: "ip", Type: ocf.String, Required: true, Unique: true,
			ShortDesc: "IPv4 or IPv6 address",
			LongDesc: "The virtual IP address, e.g. 198.18.0.100 or 2001:db8::100. Refused: the unspecified, multicast, " +
				"broadcast and loopback addresses, an IPv6 zone (give the interface as nic), and the network and broadcast " +
				"addresses of the IPv4 prefix it gets (/30 and shorter).",
		},
		{
			Name: "cidr_netmask", Type: ocf.String,
			ShortDesc: "Prefix length",
			LongDesc: "Prefix length of the address (1-32 for IPv4, 1-128 for IPv6); a contiguous dotted-quad mask is accepted for IPv4. " +
				"Default: the prefix length of the connected route that contains ip.",
		},
		{
			Name: "nic", Type: ocf.String,
			ShortDesc: "Interface",
			LongDesc: "The interface to add the address to. Default: the interface of the connected route that contains ip " +
				"(longest prefix, then lowest metric). Two interfaces that match equally well are a configuration error: set nic. " +
				"It must be an Ethernet-like link (ARP and neighbour discovery need one); lo and IPaddr2's nic:alias form are refused.",
		},
		{
			Name: "label", Type: ocf.String,
			ShortDesc: "IPv4 address label",
			LongDesc:  "A label for the address, shown by ip addr as nic:label. IPv4 only; nic:label must fit in 15 characters, with no space, control character or '/'.",
		},
		{
			Name: "arp_count", Type: ocf.Integer, Default: "5",
			ShortDesc: "Number of announcements",
			LongDesc: "How many times to announce the address on start (0 to 100). Each time sends the frames arp_mode selects for IPv4, one neighbour advertisement for IPv6. " +
				"The same burst is sent again whenever the link that holds the address comes back (up, with a carrier) while the address is held: " +
				"after a switch-port flap or a healed partition, the neighbours' caches may point elsewhere. It starts 50 ms after the link is " +
				"back, and for an IPv6 address under duplicate address detection (nodad=false) once detection has passed. 0 sends neither.",
		},
		{
			Name: "arp_interval", Type: ocf.Integer, Default: "200",
			ShortDesc: "Milliseconds between announcements",
			LongDesc:  "The interval between two announcements, in milliseconds (1 to 60000).",
		},
		{
			Name: "arp_refresh", Type: ocf.Time, Default: "0",
			ShortDesc: "Announce again every arp_refresh while held",
			LongDesc: "While the address is held, send one more round of announcements (the frames arp_mode selects for IPv4, one " +
				"unsolicited neighbour advertisement for IPv6) every arp_refresh, for switches and hosts that age out their entries " +
				"and for neighbours that missed the takeover. 0, the default, sends none; otherwise 1s to 1h (a bare number is seconds). " +
				"IPaddr2's arp_count_refresh is the analogue: it sends its frames at each monitor; here the period is a parameter of its own, " +
				"the helper sends them, and the monitor stays free of it. Independent of arp_count; nothing is sent while the link is down.",
		},
		{
			Name: "arp_mode", Type: ocf.String, Default: "both",
			ShortDesc: "Gratuitous ARP: request, reply or both",
			LongDesc: "Which gratuitous ARP frames announce an IPv4 address: request, reply or both. Hosts differ in which they " +
				"accept; both, as MetalLB sends, reaches them all. Ignored for IPv6.",
		},
		{
			Name: "preferred_lft", Type: ocf.String, Default: "forever",
			ShortDesc: "IPv6 preferred lifetime",
			LongDesc: "The preferred lifetime of an IPv6 address, in seconds, or forever. 0 makes the address deprecated, so that " +
				"the node does not pick it as the source of its own connections. Ignored for IPv4.",
		},
		{
			Name: "nodad", Type: ocf.Boolean, Default: "true",
			ShortDesc: "Skip the kernel's IPv6 duplicate address detection",
			LongDesc: "When false, the kernel runs its own duplicate address detection on a new IPv6 address, which holds it " +
				"unusable for dad_transmits × retrans_time (1 s by default); start waits for it and fails if it finds a duplicate. " +
				"The default skips it, because conflict_check has already probed the link. Ignored for IPv4.",
		},
		{
			Name: "noprefixroute", Type: ocf.Boolean, Default: "false",
			ShortDesc: "Add no prefix route",
			LongDesc:  "Do not let the kernel add the route for the address's prefix (IFA_F_NOPREFIXROUTE), when the node's routes are managed elsewhere.",
		},
		{
			Name: "check_link", Type: ocf.Boolean, Default: "true",
			ShortDesc: "Monitor fails when the link is down",
			LongDesc: "When true, start refuses an interface that is down or has no carrier (ERR_ARGS: Pacemaker tries another node) " +
				"and adds nothing, and monitor reports a failure if the interface holding the address goes down or loses its carrier, " +
				"so that Pacemaker moves the address to a node that can be reached; with fast_fail, the helper reports it the moment " +
				"it happens. When false, the link's state is no failure (the address itself still is: removed, or failed duplicate " +
				"address detection), and the address is announced again when the link comes back.",
		},
		{
			Name: "fast_fail", Type: ocf.Boolean, Default: "true",
			ShortDesc: "Report a loss of the address to Pacemaker at once",
			LongDesc: "When true, the helper that runs while the address is held follows the kernel's address and link events and, the " +
				"moment the address is lost (removed by hand or by another tool, gone with its link or its network namespace, failed duplicate " +
				"address detection, or with check_link its link down or without carrier), tells the local controller, as crm_resource --fail does, so that " +
				"recovery starts at once instead of at the next monitor. Pacemaker shows it as a failed asyncmon operation with the reason " +
				"\"Simulated failure\"; the node's log says what was lost. Stop and start never report their own changes. When false, " +
				"the next monitor finds the loss. Needs crm_resource on the node (5 from validate-all and start without it).",
		},
		{
			Name: "conflict_check", Type: ocf.Boolean, Default: "true",
			ShortDesc: "Refuse to start if another host holds the address",
			LongDesc: "Before adding the address, probe the link for another holder: an ARP probe (RFC 5227) for IPv4, a duplicate " +
				"address detection neighbour solicitation for IPv6. If one answers within conflict_wait, start fails with the holder's " +
				"hardware address and adds nothing. Not done when this node already holds the address.",
		},
		{
			Name: "conflict_wait", Type: ocf.Time, Default: "15ms",
			ShortDesc: "How long conflict_check listens",
			LongDesc: "How long conflict_check waits for another holder to answer, more than 0 and at most 10s; two probes are sent, at the start and half-way. " +
				"Hosts answer a probe from the kernel within a fraction of a millisecond on a LAN, so the default has a wide margin " +
				"while keeping takeover fast; raise it on slow or lossy links (RFC 5227 itself waits seconds).",
		},
		{
			Name: "network_namespace", Type: ocf.String,
			ShortDesc: "Network namespace",
			LongDesc: "Manage the address in this network namespace instead of the node's: a name under /run/netns, as ip netns makes " +
				"(one file name: no '/', not '.' or '..'), or an absolute path such as /proc/PID/ns/net. The file must be a network " +
				"namespace, which the kernel is asked (NS_GET_NSTYPE) before anything is done in it.",
		},
	},
	Actions: []ocf.Action{
		{Name: ocf.ActionStart, Handler: start, Timeout: 20 * time.Second},
		{Name: ocf.ActionStop, Handler: stop, Timeout: 20 * time.Second},
		{Name: ocf.ActionMonitor, Handler: monitor, Timeout: 20 * time.Second, Interval: 10 * time.Second},
		{Name: ocf.ActionValidateAll, Timeout: 20 * time.Second},
		{Name: ocf.ActionMetaData, Timeout: 5 * time.Second},
	},
	Check:    check,
	Validate: validate,
	Helpers:  map[string]ocf.HelperFunc{announcerHelper: runAnnouncer},
	ExitCodes: []ocf.ExitCodeDoc{
		{Code: ocf.ErrGeneric, When: "start: another host answered the conflict probe, IPv6 duplicate address detection failed, " +
			"the address could not be recorded in HA_RSCTMP, the helper could not be started, the address was lost while start ran, netlink or the packet socket failed, or start " +
			"ran out of time; a failed start first removes what it added. monitor: the address this resource added is on another interface than nic, " +
			"failed duplicate address detection, or its link is down (check_link). Pacemaker recovers the resource."},
		{Code: ocf.ErrArgs, When: "validate-all, start: this node cannot hold the address: nic or network_namespace does not exist here " +
			"(or a name under /run/netns, or an empty file given as a path, is not a mounted namespace), no connected route contains ip " +
			"(with the interface that is down named), the interface has no Ethernet address, (start, check_link) it is down or has no " +
			"carrier, or (start) ip is already on an interface of this node and was not added by this resource. Pacemaker bans the " +
			"resource from this node only."},
		{Code: ocf.ErrNotInstalled, When: "validate-all, start (fast_fail): crm_resource, through which the helper reports a loss when the " +
			"controller's IPC fails, is not installed on this node. Pacemaker bans the resource from this node only."},
		{Code: ocf.ErrNotConfigured, When: "validate-all, start and monitor (probes too), with the same reason: a parameter is invalid on " +
			"every node (see the parameters and the notes), network_namespace is an existing file that is no network namespace (and no empty regular file), two " +
			"interfaces match ip equally well and nic is not set, or OCF_RESOURCE_INSTANCE cannot name a file. Stop still succeeds."},
		{Code: ocf.Degraded, When: "monitor: the address is held, but the announcer start left (fast_fail, arp_count or arp_refresh) is gone " +
			"(killed by hand or by the OOM killer): a loss would be found by the next monitor, not at once, and nothing is announced again. " +
			"Pacemaker shows it and recovers nothing; restart the resource to run a new announcer."},
		{Code: ocf.NotRunning, When: "monitor: the address is not on any interface, or is there but was not added by this resource " +
			"(the node's own address, say), or network_namespace does not exist on this node (nothing can run in it)."},
	},
	Notes: notes,
})

// check is the framework's Check hook: the parameters and the instance
// name, which need nothing from the node. The framework makes whatever it
// returns ERR_CONFIGURED, with the same reason from validate-all, start and
// monitor (probes included); stop logs it and runs.
func check(req *ocf.Request) error {
	if _, err := parseConfig(req.Params); err != nil {
		return err
	}
	return checkInstance(req.Env.Instance, false)
}

// validate runs in validate-all and before start, after check: whether
// this node can hold the address.
func validate(_ context.Context, req *ocf.Request) error {
	c, err := parseConfig(req.Params)
	if err != nil {
		return err
	}
	h, err := openHost(c.netns)
	if err != nil {
		return err
	}
	defer h.Close()
	if _, _, err = resolve(h, c); err != nil {
		return err
	}
	if c.fastFail {
		_, err = lookCrmResource()
	}
	return err
}

// resolve finds the link and prefix length for the address, and checks
// that the link can hold a virtual IP. Its errors are ERR_ARGS for what
// this node lacks and ERR_CONFIGURED for what no node can do.
func resolve(h *host, c *config) (netlink.Link, int, error) {
	var link netlink.Link
	if c.nic != "" {
		// A missing nic says more than "no route on it".
		var err error
		if link, err = h.link(c.nic); err != nil {
			return nil, 0, err
		}
	}
	nic, bits := c.nic, c.bits
	if nic == "" || bits < 0 {
		rs, err := h.routes(c.ip)
		if err != nil {
			return nil, 0, err
		}
		if nic, bits, err = findIf(rs, c.ip, c.nic, c.bits); err != nil {
			if code, _ := ocf.Result(err); code == ocf.ErrArgs {
				// The kernel drops the routes of a link that is down,
				// so "no route" often means that: say so.
				if link != nil && link.Attrs().Flags&net.FlagUp == 0 {
					return nil, 0, ocf.Errorf(ocf.ErrArgs, "nic %s is administratively down, so no route gives the netmask of %s", c.nic, c.ip)
				}
				if down := h.downLinks(); len(down) > 0 && c.nic == "" {
					return nil, 0, ocf.Errorf(ocf.ErrArgs, "%v (down here: %s)", err, strings.Join(down, ", "))
				}
			}
			return nil, 0, err
		}
	}
	if _, err := c.fullLabel(nic); err != nil {
		return nil, 0, err
	}
	if link == nil {
		var err error
		if link, err = h.link(nic); err != nil {
			return nil, 0, err
		}
	}
	attrs := link.Attrs()
	if attrs.Flags&net.FlagLoopback != 0 {
		return nil, 0, ocf.NotConfigured("nic %s is a loopback interface: an address there is reachable from no other host", attrs.Name)
	}
	if len(attrs.HardwareAddr) != 6 {
		// Announcements and the conflict probe are Ethernet frames.
		return nil, 0, ocf.Errorf(ocf.ErrArgs, "nic %s has no Ethernet address; a virtual IP needs an Ethernet-like link", attrs.Name)
	}
	if err := checkHostPart(c.ip, bits); err != nil {
		return nil, 0, err
	}
	return link, bits, nil
}

// checkHostPart refuses the network and broadcast addresses of an IPv4
// prefix that has them (/30 and shorter): the kernel would take them, and
// the hosts of the subnet would stop reaching each other's broadcasts.
func checkHostPart(ip netip.Addr, bits int) error {
	if !ip.Is4() || bits > 30 {
		return nil
	}
	p := netip.PrefixFrom(ip, bits).Masked()
	if ip == p.Addr() {
		return ocf.NotConfigured("ip %s is the network address of %s", ip, p)
	}
	b := p.Addr().As4()
	for i := bits; i < 32; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	if ip == netip.AddrFrom4(b) {
		return ocf.NotConfigured("ip %s is the broadcast address of %s", ip, p)
	}
	return nil
}

// linkReady is check_link for start: a link that is down, or has no
// carrier, reaches no host, so start refuses it here and Pacemaker tries
// another node (ERR_ARGS: see the exit codes).
func linkReady(attrs *netlink.LinkAttrs) error {
	switch {
	case attrs.Flags&net.FlagUp == 0:
		return ocf.Errorf(ocf.ErrArgs, "nic %s is administratively down (check_link)", attrs.Name)
	case attrs.Flags&net.FlagRunning == 0:
		return ocf.Errorf(ocf.ErrArgs, "nic %s has no carrier (check_link)", attrs.Name)
	}
	return nil
}

func start(ctx context.Context, req *ocf.Request) (err error) {
	c, err := parseConfig(req.Params)
	if err != nil {
		return err
	}
	instance := req.Env.Instance
	if err := checkInstance(instance, true); err != nil {
		return err
	}
	var report *failreport.Report
	if c.fastFail {
		if report, err = newReport(req.Env); err != nil {
			return err
		}
	}
	h, err := openHost(c.netns)
	if err != nil {
		return err
	}
	defer h.Close()
	link, bits, err := resolve(h, c)
	if err != nil {
		return err
	}
	attrs := link.Attrs()
	if c.checkLink {
		if err := linkReady(attrs); err != nil {
			return err
		}
	}
	id, err := h.id()
	if err != nil {
		return ocf.Generic("%w", err)
	}
	rec, err := readRecord(req.Env.RscTmp, instance)
	if err != nil {
		req.Log.Warnf("%v: taken as no record", err)
	}
	have, err := h.find(c.ip)
	if err != nil {
		return err
	}
	// An address this resource did not add is this node's (its own
	// address, one another tool manages): taking it over would make stop
	// delete it. ERR_ARGS: another node can hold the address.
	for _, a := range have {
		if rec.mine(id, a) {
			continue
		}
		if a.link.Attrs().Index != attrs.Index {
			return ocf.Errorf(ocf.ErrArgs, "%s is already on %s of this node, not on %s; remove it there first", c.ip, a.linkName(), attrs.Name)
		}
		return ocf.Errorf(ocf.ErrArgs, "%s is already on %s of this node, not added by this resource; refusing to take it over", c.ip, a.linkName())
	}
	// From here on start changes what an earlier start left: disarm
	// first, so that its watcher reports none of it, and end it, before
	// anything is removed.
	take(armedFile(req.Env.RscTmp, instance))
	if err := stopAnnouncer(ctx, req.Env.RscTmp, instance); err != nil {
		return ocf.Generic("%w", err)
	}
	if err := stopLegacyAnnouncer(ctx, req.Env.RscTmp, c.ip); err != nil {
		return ocf.Generic("%w", err)
	}
	if rec != nil && (rec.IP != c.ip || rec.NetnsID != id) {
		// The record of an address started with other parameters
		// (another ip, another network_namespace) and never stopped:
		// it is ours, in the namespace it records, and the new record
		// replaces it. One left there would be orphaned.
		if err := removePrevious(req, h, id, rec); err != nil {
			return err
		}
	}
	already := false
	for _, a := range have {
		if a.link.Attrs().Index != attrs.Index || a.dadFailed() || a.bits() != bits {
			// Ours on another link (nic changed), with another prefix
			// length (cidr_netmask changed: a replace would add a
			// second IPv4 address), or a dead copy from an earlier
			// start: it keeps its dadfailed flag through a replace, so
			// remove it and probe anew.
			if err := h.del(a); err != nil {
				return err
			}
			continue
		}
		already = true
	}
	if !already {
		// Nothing recorded is held any more: a record left now would
		// name a link on which another may add the address later.
		if err := removeRecord(req.Env.RscTmp, instance); err != nil {
			return ocf.Generic("%w", err)
		}
	}

	var conn *neigh.Conn
	if err := h.do(func() (err error) {
		conn, err = neigh.Open(attrs.Index)
		return err
	}); err != nil {
		return ocf.Generic("open packet socket on %s: %w", attrs.Name, err)
	}
	defer conn.Close()

	if c.conflictCheck && !already {
		holder, err := conn.Probe(ctx, c.ip, attrs.HardwareAddr, 2, c.conflictWait)
		if err != nil {
			return ocf.Generic("probe %s for another holder of %s: %w", attrs.Name, c.ip, err)
		}
		if holder != nil {
			return ocf.Generic("another host (%s) already holds %s on %s; refusing to start", holder, c.ip, attrs.Name)
		}
	}
	want, err := c.want(attrs.Name, bits)
	if err != nil {
		return err
	}
	// The record goes first: an address added and then not recorded (a
	// crash, a kill at the timeout) would be one stop leaves behind.
	rec = &record{IP: c.ip, Bits: bits, Link: attrs.Index, LinkNm: attrs.Name, NetnsID: id, NetnsPath: c.netns.path, Announcer: c.announcer()}
	if err := writeRecord(req.Env.RscTmp, instance, *rec); err != nil {
		return ocf.Generic("%w", err)
	}
	// From here on a failed start takes back what it did, the address,
	// the record and the announcer, so that nothing of it outlives the
	// failure.
	defer func() {
		if err != nil {
			undoStart(ctx, req, h, id, rec)
		}
	}()
	if err := h.add(link, want); err != nil {
		return err
	}
	if already {
		req.Log.Debugf("%s/%d already held on %s", c.ip, bits, attrs.Name)
	} else {
		req.Log.Infof("added %s/%d to %s", c.ip, bits, attrs.Name)
	}
	if c.ip.Is6() && !c.nodad {
		if err := h.waitDAD(ctx, link, c.ip); err != nil {
			return err
		}
	}
	return announce(ctx, req, c, h, conn, attrs, bits, report)
}

// undoStart removes what a failed start added: its announcer, the address
// it recorded and the record. It runs in the framework's cleanup time,
// after ctx may have ended. It only logs its own failures: the start's
// error is what Pacemaker must see, and its stop will try again.
func undoStart(ctx context.Context, req *ocf.Request, h *host, id nsID, rec *record) {
	cctx, cancel := ocf.CleanupContext(ctx)
	defer cancel()
	take(armedFile(req.Env.RscTmp, req.Env.Instance))
	if err := stopAnnouncer(cctx, req.Env.RscTmp, req.Env.Instance); err != nil {
		req.Log.Warnf("failed start: %v", err)
	}
	if removeRecorded(req, h, id, rec) {
		if err := removeRecord(req.Env.RscTmp, req.Env.Instance); err != nil {
			req.Log.Warnf("failed start: %v", err)
		}
	}
}

// removePrevious removes the address of a record that start is about to
// replace, in the namespace the record names: h itself when that is the
// one start works in (id). A namespace that is gone took the address with
// it. It fails when the address is there and cannot be removed: the old
// record must stay, so that stop tries again.
func removePrevious(req *ocf.Request, h *host, id nsID, rec *record) error {
	if rec.NetnsID != id {
		old, why, err := openRecorded(rec, req.Params.String("network_namespace"))
		if err != nil {
			return err
		}
		if old == nil {
			req.Log.Infof("previous address record: %s", why)
			return nil
		}
		defer old.Close()
		h, id = old, rec.NetnsID
	}
	if !removeRecorded(req, h, id, rec) {
		return ocf.Generic("could not remove %s, added by an earlier start, from %s", rec.IP, rec.LinkNm)
	}
	return nil
}

// removeRecorded removes the address rec records, from the link it
// records, and nothing else: a copy of the address elsewhere is not this
// resource's. It reports whether none of it is left; it logs what fails.
func removeRecorded(req *ocf.Request, h *host, id nsID, rec *record) bool {
	hs, err := h.find(rec.IP)
	if err != nil {
		req.Log.Warnf("%v", err)
		return false
	}
	ok := true
	for _, a := range hs {
		if !rec.mine(id, a) {
			continue
		}
		if err := h.del(a); err != nil {
			req.Log.Warnf("%v", err)
			ok = false
			continue
		}
		if rec.renamed(a) {
			req.Log.Infof("removed %s from %s (named %s when it was added)", rec.IP, a.linkName(), rec.LinkNm)
		} else {
			req.Log.Infof("removed %s from %s", rec.IP, a.linkName())
		}
	}
	return ok
}

// announce sends the first announcement now, leaves the others to the
// announcer, and arms it (fast_fail): from then on a loss of the address
// is reported. It looks once more after arming, for a loss the announcer
// saw before it was armed.
func announce(ctx context.Context, req *ocf.Request, c *config, h *host, conn *neigh.Conn, attrs *netlink.LinkAttrs, bits int, report *failreport.Report) error {
	frames, err := neigh.Announcement(c.ip, attrs.HardwareAddr, c.arpMode)
	if err != nil {
		return ocf.Generic("build announcement: %w", err)
	}
	if c.arpCount > 0 {
		if err := conn.Send(frames); err != nil {
			return ocf.Generic("announce %s on %s: %w", c.ip, attrs.Name, err)
		}
		// The instant the network learns where the address is: a
		// failover's timeline ends here for its neighbours.
		req.Log.Infof("announced %s on %s", c.ip, attrs.Name)
	}
	if !c.announcer() {
		return nil // nothing for an announcer to do
	}
	f, err := conn.File()
	if err != nil {
		return ocf.Generic("hand the packet socket to the announcer: %w", err)
	}
	defer f.Close()
	files := []*os.File{f}
	if h.ns.IsOpen() {
		nsf, err := dupFile(int(h.ns), "network namespace")
		if err != nil {
			return ocf.Generic("hand the network namespace to the announcer: %w", err)
		}
		defer nsf.Close()
		files = append(files, nsf)
	}
	spec := announcerSpec{
		Count: max(c.arpCount-1, 0), Interval: c.arpInterval, Frames: frames,
		Burst: c.arpCount, Refresh: c.arpRefresh,
		IP: c.ip, Bits: bits, Link: attrs.Index, Netns: h.ns.IsOpen(), CheckLink: c.checkLink,
		NetnsPath: c.netns.path, NetnsName: c.netns.value, Nic: c.nic,
		Instance: req.Env.Instance, Log: req.Env.Log,
	}
	armed := armedFile(req.Env.RscTmp, req.Env.Instance)
	if report != nil {
		spec.Armed, spec.Report = armed, report
	}
	if err := spawnAnnouncer(ctx, req.Env.RscTmp, req.Env.Instance, spec, files); err != nil {
		// A node that cannot run the announcer is in trouble: the address
		// would go unannounced and unwatched. Fail, so that Pacemaker
		// moves it to a node that can.
		return ocf.Generic("announce %s: %w", c.ip, err)
	}
	if report == nil {
		return nil
	}
	if err := arm(armed); err != nil {
		return ocf.Generic("%w", err)
	}
	st, err := readLinkState(h.nl, c.ip, bits, attrs.Index)
	if err != nil {
		take(armed)
		return ocf.Generic("%w", err)
	}
	if why := st.lost(c.ip, c.checkLink, c.nic); why != "" {
		// Whoever takes the file reports; start fails either way.
		take(armed)
		return ocf.Generic("%s during start", why)
	}
	return nil
}

// dupFile duplicates fd (close-on-exec) as a file to hand to a helper.
func dupFile(fd int, name string) (*os.File, error) {
	nfd, err := unix.FcntlInt(uintptr(fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("duplicate %s: %w", name, err)
	}
	return os.NewFile(uintptr(nfd), name), nil
}

// stop needs only the record, ip and network_namespace. A configuration
// error must not fail it: a failed stop gets the node fenced, and with an
// address that cannot be parsed or a namespace that is not there nothing
// was added. It removes only the address start recorded, from the link it
// recorded: an address this resource did not add (the node's own, given as
// ip by mistake) is never its to remove.
func stop(ctx context.Context, req *ocf.Request) error {
	// The announcer goes first: one left running would pull the address's
	// traffic back to this node after it has moved. An instance name that
	// cannot name a file never had one, nor a record: start refuses it.
	instanceOK := checkInstance(req.Env.Instance, true) == nil
	if instanceOK {
		// Disarm first: the removal below is ours, not a failure.
		take(armedFile(req.Env.RscTmp, req.Env.Instance))
		if err := stopAnnouncer(ctx, req.Env.RscTmp, req.Env.Instance); err != nil {
			return ocf.Generic("%w", err)
		}
	}
	if ip, err := parseIP(req.Params.String("ip")); err == nil {
		if err := stopLegacyAnnouncer(ctx, req.Env.RscTmp, ip); err != nil {
			return ocf.Generic("%w", err)
		}
	}
	if !instanceOK {
		req.Log.Infof("nothing to stop: no address can be recorded for this instance name")
		return nil
	}
	rec, err := readRecord(req.Env.RscTmp, req.Env.Instance)
	if err != nil {
		// Not a record start wrote: it names no address of ours.
		req.Log.Warnf("%v: removed, nothing to stop", err)
		if err := removeRecord(req.Env.RscTmp, req.Env.Instance); err != nil {
			req.Log.Warnf("%v", err)
		}
		return nil
	}
	if rec == nil {
		req.Log.Infof("nothing to stop: no address recorded as added by this resource")
		return nil
	}
	// The address is where start recorded it, whatever
	// network_namespace says now (changed, or no longer valid: a
	// configuration error must not orphan it).
	h, why, err := openRecorded(rec, req.Params.String("network_namespace"))
	if err != nil {
		return err
	}
	if h == nil {
		// The namespace start added the address in is gone (deleted,
		// perhaps re-created under the same name): the address went
		// with it.
		req.Log.Infof("nothing to stop: %s", why)
		return removeStaleRecord(req)
	}
	defer h.Close()
	if !removeRecorded(req, h, rec.NetnsID, rec) {
		return ocf.Generic("could not remove %s from %s", rec.IP, rec.LinkNm)
	}
	if err := removeRecord(req.Env.RscTmp, req.Env.Instance); err != nil {
		return ocf.Generic("%w", err)
	}
	return nil
}

// removeStaleRecord removes a record whose address cannot be held any
// more, so that nothing later takes another's address for it.
func removeStaleRecord(req *ocf.Request) error {
	if err := removeRecord(req.Env.RscTmp, req.Env.Instance); err != nil {
		return ocf.Generic("%w", err)
	}
	return nil
}

// monitor reports the address's state: one address dump and the links of
// the addresses found, no fork. A namespace this node lacks (ERR_ARGS from
// openHost) is "not running", probe or not: nothing can run in it, and
// start refuses it here, so Pacemaker recovers the resource on another
// node. A configuration that is wrong everywhere is ERR_CONFIGURED, with
// the reason validate-all and start give: when the address is not held,
// monitor also runs start's checks of the nic and the routes (a probe on a
// node that runs nothing pays for them, a running resource does not).
func monitor(_ context.Context, req *ocf.Request) error {
	c, err := parseConfig(req.Params)
	if err != nil {
		return err
	}
	h, err := openHost(c.netns)
	if err != nil {
		if code, reason := ocf.Result(err); code == ocf.ErrArgs {
			if req.Probe {
				return ocf.NotRunning
			}
			return ocf.Errorf(ocf.NotRunning, "%s", reason)
		}
		return err
	}
	defer h.Close()
	have, err := h.find(c.ip)
	if err != nil {
		return err
	}
	// Only an address start recorded is this resource's: the node's own
	// address, or one on another interface than start would pick, is
	// "not running" for it, never a failure that Pacemaker would follow
	// with a stop.
	var ours []held
	var rec *record
	if len(have) > 0 {
		id, err := h.id()
		if err != nil {
			return ocf.Generic("%w", err)
		}
		rec, err = readRecord(req.Env.RscTmp, req.Env.Instance)
		if err != nil {
			req.Log.Warnf("%v: taken as no record", err)
		}
		for _, a := range have {
			if rec.mine(id, a) {
				ours = append(ours, a)
				if rec.renamed(a) {
					req.Log.Infof("%s is on %s, named %s when it was added", c.ip, a.linkName(), rec.LinkNm)
				}
			} else {
				req.Log.Infof("%s is on %s, not added by this resource", c.ip, a.linkName())
			}
		}
	}
	if len(ours) == 0 {
		if _, _, err := resolve(h, c); err != nil {
			if code, _ := ocf.Result(err); code == ocf.ErrNotConfigured {
				return err
			}
		}
		return ocf.NotRunning
	}
	for _, a := range ours {
		if c.nic != "" && a.linkName() != c.nic {
			return ocf.Generic("%s is on %s, not on nic %s", c.ip, a.linkName(), c.nic)
		}
		if a.dadFailed() {
			return ocf.Generic("%s on %s failed duplicate address detection: another host holds it", c.ip, a.linkName())
		}
		if c.checkLink && !a.linkUp() {
			return ocf.Generic("link %s holding %s is down or has no carrier", a.linkName(), c.ip)
		}
	}
	if rec.Announcer && !announcerAlive(req.Env.RscTmp, req.Env.Instance) {
		// Killed (by hand, the OOM killer) or ended by a failure of
		// its own (logged). Nothing restarts it: the address is held
		// and this monitor still checks it, but a loss waits for the
		// next one, and no refresh or burst is sent. Degraded: shown,
		// not recovered.
		return ocf.Errorf(ocf.Degraded, "the announcer watching %s is gone: a loss waits for the next monitor; restart the resource to watch again", c.ip)
	}
	return nil
}
