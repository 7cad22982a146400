package vip

// notes is the reference page's "Notes" section: what the agent refuses
// and why, and where it differs from IPaddr2.
const notes = `### What is refused, and why

| input | result | why |
|---|---|---|
| ip: 0.0.0.0, ::, multicast, 255.255.255.255 | 6 | no interface can hold them |
| ip: 127.0.0.0/8, ::1 | 6 | a loopback address is reachable from no other host, so as a virtual IP it can only hide a mistake |
| ip: the network or broadcast address of its IPv4 prefix (/30 and shorter) | 6 | the kernel takes them, and the subnet's hosts stop reaching each other's broadcasts |
| ip with a zone (fe80::1%eth0) | 6 | the interface is nic |
| cidr_netmask that is not a number (/24) or not contiguous (255.0.255.0) | 6, "is not a prefix length" | said as what it is, not as "out of range" |
| nic=lo | 6 | as for loopback addresses |
| nic=eth0:1 (IPaddr2's alias form) | 6 | Linux has no alias interfaces, only labels on addresses: set nic=eth0 label=1 |
| nic: more than 15 bytes, '/', space or a control character | 6 | not an interface name on any node |
| a link without an Ethernet address (tun, wireguard, ipip) | 2 | the announcements and the conflict probe are Ethernet frames; another node's interface of that name may be Ethernet |
| check_link=true and the interface down or without carrier at start | 2, nothing added | an address there reaches nobody: the resource goes to another node at once |
| label: nic:label over 15 bytes, space, '/', or on IPv6 | 6 | what the kernel can store (IFNAMSIZ), IPv4 only |
| arp_count outside 0..100, arp_interval outside 1..60000 ms | 6 | a typo must not keep the announcer running for hours |
| conflict_wait outside (0, 10s] | 6 | longer is not a conflict check but a start delay |
| network_namespace: a name with '/', '.', '..' or over 255 bytes; a path over 4095 bytes | 6 | a name never leaves /run/netns (../../etc is refused, not resolved) |
| network_namespace: an existing file that is no network namespace and no empty regular file (/etc, /etc/passwd, /dev/zero, a fifo, /proc/self/ns/mnt) | 6, stop 0 | checked with the kernel before use; the file is opened O_PATH first, so a device or fifo is never opened |
| network_namespace that does not exist here, a name under /run/netns that is not mounted, or an absolute path to an empty regular file (a mount point without its mount, such as /run/netns/x given as a path) | 2 from start, 7 from monitor, stop 0 | another node may have it; one node's stale file must not stop the resource everywhere |
| ip already on an interface of this node, not added by this resource (the node's own address, one on another interface than nic) | validate-all 0, start 2, monitor 7, stop 0 and the address kept | see "Which address is the resource's" |
| OCF_RESOURCE_INSTANCE with '/', '..' or a control character, or over 219 bytes | 6 | it names the announcer's pid file and the address record in HA_RSCTMP |

Every value quoted back in a reason is cut to a few dozen bytes.

### Which code, and why

One misconfiguration gives one answer: validate-all, start and monitor
(probes included) return the same code with the same reason, and stop
returns 0 whenever nothing can have been started with the parameters. A
probe never returns 1 for a configuration that cannot have started
anything: a probe returning 1 on every node makes Pacemaker stop the
resource everywhere, and a failed stop fences the node. When the address is
not held, monitor also runs start's checks of the interface and the routes,
so that a configuration no node can run (nic=lo, two interfaces tied, a
broadcast address) is 6 from a probe as from validate-all.

What this node lacks (a nic, a namespace, a route, a carrier) is ERR_ARGS
(2): Pacemaker bans the resource from this node only and starts it on
another, whatever start-failure-is-fatal says, until the failure is
cleaned up (pcs resource cleanup). A link without carrier
is ERR_ARGS rather than ERR_GENERIC because retrying on the same node
(which ERR_GENERIC allows when start-failure-is-fatal is false) cannot help
while another node has a working link.

### Which address is the resource's

Before start adds the address, it records it: ` + "`$HA_RSCTMP/vnfha-vip-<instance>.addr`" + `,
written atomically and durably, holds the address, its prefix length, the
interface (its index, and its name for messages) and the network namespace
(the path start opened and its nsfs inode). Nothing the agent reads over
netlink says who added an address, so this file is the only mark. The
interface is the one with the recorded index: a renamed interface is the
same one (the rename is logged). Then:

- **monitor** reports running only for the recorded address, with the
  recorded prefix length, on the recorded interface. The same address held
  otherwise (the node's own address, one on another interface than nic, one
  another tool manages, one re-added with another prefix length) is 7, not
  1: a probe returning 1 is followed by a stop on that node.
- **stop** removes only the recorded address, from the recorded interface of
  the recorded namespace, whatever network_namespace says at stop time, and
  the record; with no record it removes nothing. The record is dropped
  without removing anything only when that namespace is gone (its path is
  missing, or names another namespace now).
- **start** refuses (2, nothing added) an address that this node already
  holds and that is not recorded: adopting the node's own address would make
  the resource's stop take it away (perhaps the corosync link with it).
  Its own address left by an earlier start (recorded) is taken over as it
  is, or moved from another interface after nic changed; after ip or
  network_namespace changed, it is removed from where it was recorded first.

HA_RSCTMP is a tmpfs under /run: a reboot empties it and takes the address
away too; a restart of Pacemaker keeps both, and the probes after it find
the address running. **Upgrading from an agent without records** while
the address is held: the new agent does not know the address as its own
(monitor 7, stop keeps it). Put the node in standby (or move the resource
away) before upgrading the agent, as for any Pacemaker upgrade.

### Where it differs from IPaddr2

- **An address the node already holds is not taken over.** IPaddr2 reports
  an address already on the interface as running (its probe returns 0) and
  its stop deletes it, even if it is the node's own address configured
  outside Pacemaker; a typo in ip or nic can so remove a node's address.
  vip reports and removes only the address it added (see above).
- **A nic missing on this node is ERR_ARGS (2), not ERR_CONFIGURED (6).**
  IPaddr2 bans the resource from every node when the nic does not exist on
  the node that checked; interface names differ between nodes, so vip bans
  only that node.
- **Loopback is refused.** IPaddr2 accepts nic=lo for LVS direct routing;
  vip manages a virtual IP that other hosts reach, which lo cannot give.
- **nic:alias is refused** with a reason that says to use label.
- **A failed start leaves nothing:** an address added before the failure is
  removed and the announcer ended, within the operation's timeout.

### The announcer

Start sends the first announcement itself and runs the rest in a helper
process (ocf.StartHelper): its pid file is
` + "`$HA_RSCTMP/vnfha-vip-<instance>.announcer`" + `, keyed by the resource
instance (a clone's is "id:N"), so two resources with the same address in
different network namespaces keep one each. The file holds the
announcer's pid and start time; stop signals only the process it names,
and also ends an announcer left by an older agent under its old name
(` + "`vnfha-vip-<ip>.announcer`" + `), whose file all resources with that
address shared. Stop kills the announcer's whole process group: a report
of a loss still on its way through crm_resource ends with it, instead of
landing after stop (or after a start over the address) as a failure of a
resource that is no longer there.

**Upgrading from the agent before the watch** (issue 10) while addresses
are held: their announcers ended after their burst, and their records do
not say that one should run, so stop, monitor (0) and start are right,
but such an address is not watched (no fast_fail, no arp_refresh, no
burst when the link comes back) until it is started again: restart or
move the resource when convenient.

### Running on OpenStack and other clouds

A virtual IP moves by announcement: the node that takes it adds it to its
own interface and tells the LAN, with its own MAC address, that the
address is now there. A cloud network or a hypervisor that filters what a
VM may send drops exactly that, unless it is told the address may move:

- **OpenStack Neutron.** Port security (on by default) lets a port send
  only from its fixed IPs and MAC, and from its allowed address pairs.
  The node's ARP replies and gratuitous ARPs for the virtual IP (for IPv6,
  its neighbour advertisements), and every packet sent from the virtual
  IP, are dropped at the port. Add the virtual IP to the allowed address
  pairs of the port of **every node that may hold it**, on the network of
  nic: ` + "`openstack port set --allowed-address ip-address=198.18.0.100 <port>`" + `
  (the MAC defaults to the port's own, which is the one vip announces;
  with IPv6, add the IPv6 address as well). Reserve the address too, so
  that Neutron never gives it to an instance: create a port that holds it
  and attach it to nothing (` + "`openstack port create --network <net> --fixed-ip ip-address=198.18.0.100 vip-reserved`" + `).
  Turning port security off on the nodes' ports works as well, but Neutron
  refuses it while the port has security groups: they must go first
  (` + "`openstack port set --no-security-group --disable-port-security <port>`" + `),
  and the port is then not filtered at all. With OVN, the allowed address
  pair must be the address itself (/32 or /128), not a range: OVN then makes
  the reserved port a virtual port and learns which node holds the address
  from the node's announcements; with a range it forwards nothing to it.
- **Hypervisor filters.** libvirt's ` + "`clean-traffic`" + ` network filter
  (and Proxmox's firewall with "IP filter" on) drops what does not come
  from the VM's known addresses: add the virtual IP to the filter's IP
  list. VMware NSX SpoofGuard does the same: approve the address on each
  node's port. A filter of MAC addresses alone (vSphere's "forged
  transmits") does not matter: vip sends from the node's own MAC.
- **Public clouds whose network ignores ARP** (AWS VPC, Azure, Google
  Cloud) never move an address by announcement: the address must be moved
  by the cloud's API (resource-agents' awsvip, aws-vpc-move-ip,
  gcp-vpc-move-vip) or put behind the cloud's load balancer (azure-lb).
  vip can still hold the address on the node, in a group after such an
  agent.

**How to tell that a filter is the cause.** vip sees only the node: the
address is on the interface, the link is up, the conflict probe heard
nobody. So the monitor returns 0 (running), Pacemaker is content and no
failure is recorded, while no client reaches the address. From a client
on the same network:

- ` + "`ip neigh show 198.18.0.100`" + ` after a connection attempt says
  INCOMPLETE or FAILED (no ARP answer came back), while the node's own
  address shows REACHABLE with the node's MAC; ` + "`arping -I eth0 198.18.0.100`" + `
  gets no answer, ` + "`arping`" + ` of the node's own address does.
- On the node, ` + "`tcpdump -eni eth0 arp or icmp6`" + ` shows the client's
  requests for the virtual IP arriving and the node's replies going out:
  the replies are lost between the node and the client, which is the
  filter's work (a node that does not hold the address would not reply).

Once the address is allowed, the next announcement (a failover, a start,
arp_refresh when it is set) or the client's next ARP request reaches the
client; nothing needs restarting.

### A loss reported at once (fast_fail)

The announcer does not end after start's burst: it stays while the
address is held and follows the kernel's link and address events in the
resource's network namespace. The moment the address is lost, it tells
Pacemaker, as vnfc's supervisor does: the local controller's IPC (the
request crm_resource --fail sends), crm_resource --fail itself if that
fails. Lost means what the next monitor would report, and nothing else:

| event | reported | monitor then |
|---|---|---|
| the address removed (ip addr del, another tool, an IPv6 address flushed by ip link set down) | yes | 7 |
| its link deleted, or moved to another namespace | yes | 7 |
| its link renamed, with nic set (a link is renamed only while down) | yes: the address is not on nic | 1 |
| its link renamed, nic not set | no: the link's index keeps the address this resource's | 0 |
| its network namespace deleted (ip netns del, a container's runtime), or made again under its name | yes, and the announcer ends even when not armed or with fast_fail=false, so that the old namespace and its links go | 7 |
| IFA_F_DADFAILED on it (nodad=false: the kernel's duplicate address detection runs again when the link comes back up with the address kept) | yes | 1 |
| its link administratively down, or without carrier, with check_link=true | yes | 1 |
| the same with check_link=false | no: announced again when the link is back | 0 |
| stop's own removal; a start over a held address (another prefix length, ip, nic or network_namespace: start removes the old address) | never | - |
| any of the above with fast_fail=false | no, logged at info | as above |

Pacemaker records the report as a failed asyncmon operation, "Simulated
failure" (the reason the controller writes for every injected failure; the
node's log has ours: ` + "`vip(<rsc>)[pid]: ERROR: 198.18.0.100 was removed from eth0`" + `,
then how it was reported), and the fail count rises as for vnfc's fast_fail
report (see that page). It then stops and starts the resource, on this node
or another as the fail count and check_link allow. Measured in the lab
(make bench, BenchmarkVIPLoss: 2 nodes, the same 2 s monitor for both
agents): the address removed by hand is in the DC's CIB after a median of
8 ms (5-16) with vip, and 969 ms (616-1633) with IPaddr2, which finds it at
its next monitor; a link set down after 5 ms (4-9) with vip, and never with
IPaddr2, whose monitor does not look at the link.

**Whose loss it is: the armed file.** Stop, and a start that runs over a
held address, change the address themselves. The rule is vnfc's: the
announcer reports only if its own remove of
` + "`$HA_RSCTMP/vnfha-vip-<instance>.armed`" + ` succeeds. Start creates the file
once the announcer watches and looks once more after (a loss in between
fails the start); stop and start remove it before they end the announcer
or touch the address. Whoever removes the file owns the loss, so a
deliberate change is never reported and a loss is reported at most once.
After a report the announcer exits: Pacemaker's stop and start follow, and
that start runs a new one.

**What it reads.** An event only wakes the announcer; it then reads the
link and the address (two netlink requests) and decides on what holds. A
loss that has healed by then (an address removed and added back, a carrier
flap shorter than the kernel's link-state delay of up to a second) is not
reported; the link coming back is still announced (the event said it was
down). Events the kernel drops because the announcer's socket is full (a
flood of link and address events in the namespace: ENOBUFS) hide nothing:
the announcer reads the whole state again, and counts the link as having
been away (a burst, if it is up). The announcer stays in the node's
network namespace, where the controller's IPC is; only its netlink and
packet sockets are opened in the resource's namespace, which start hands
it as a file.

Those sockets keep the namespace alive after its name is deleted, with its
links and the address on them, still answering on a link nobody manages.
So the announcer also follows the namespace's file (inotify on its
directory, /run/netns for a name): when the name is deleted or made again
(another namespace), it reports the loss (fast_fail) and ends, report or
not, and the old namespace goes with its links. A namespace file that is
only unmounted, or a /proc/PID/ns/net path whose process exits, makes no
event: the next monitor finds those (7), and stop ends the announcer.

**Limits.** The monitor is the safety net: it forks nothing and reports
every loss above by itself. An announcer killed by hand (or by the OOM
killer) is not restarted: the address stays held and monitored, and
monitor returns 190 (degraded: "the announcer watching ... is gone"), which
crm_mon shows under the failed actions and Pacemaker does not recover;
restart the resource to run a new one. That costs monitor two small reads
(the announcer's pid file and /proc/PID/stat), no fork. fast_fail needs
crm_resource on the node: validate-all and start return 5 without it. Set
fast_fail=false where another tool may remove the address on purpose.

**Cost.** One announcer per held address: a process of 4 threads (it runs
with GOMAXPROCS=1, and waits on netlink and inotify through the Go
runtime's poller, not in a blocked thread) with about 1.1 MiB of memory of
its own; the rest of its resident size (about 8 MiB) is the agent's binary,
shared with every other announcer and every action Pacemaker runs.

### Announcements that stay true

Neighbours keep what they learnt: a switch's MAC table, a router's ARP
cache, a host's neighbour entry. Two things can make them wrong while the
address stays held here, and vip announces it again for both:

- **arp_refresh**: one round (the frames arp_mode selects, one neighbour
  advertisement for IPv6) every arp_refresh, for neighbours and switches
  that age entries out or missed the takeover. IPaddr2's
  arp_count_refresh sends its frames at each monitor; here the period is
  its own, and the monitor stays free of it. 0 (the default) is off;
  otherwise 1s to 1h: shorter is a flood, and a bare number is seconds,
  so "arp_refresh=30000" meant as milliseconds is refused (6) rather
  than read as eight hours.
- **The link coming back**: when the link that holds the address is up
  with a carrier again (a switch-port flap, a healed partition: the
  neighbours may have learnt another holder meanwhile), a full burst,
  arp_count rounds arp_interval apart, the first 50 ms after the link
  reads up (the kernel may report a link running a moment before it lets
  frames out, and drops what comes before without an error). With
  check_link=true (the default) a link that goes down is a failure and is
  reported first; this matters with check_link=false or fast_fail=false.

Nothing is sent while the link is down or without carrier, nor for an IPv6
address that the kernel's duplicate address detection is checking again
(nodad=false: it runs when the link comes back with the address kept) or
that failed it: an unsolicited advertisement with the override flag would
point the neighbours at this node while another host may hold the address
(after a healed partition, say). The burst after the link came back waits
for detection to pass. arp_count=0 turns off start's burst and the
link's; arp_refresh is separate.`
