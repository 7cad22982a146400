package neigh

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// Kind is the kind of a neighbour frame.
type Kind int

// The kinds of frame Parse decodes.
const (
	ARPRequest Kind = iota + 1
	ARPReply
	NeighborSolicitation
	NeighborAdvertisement
)

var kindNames = [...]string{
	ARPRequest:            "ARP request",
	ARPReply:              "ARP reply",
	NeighborSolicitation:  "neighbour solicitation",
	NeighborAdvertisement: "neighbour advertisement",
}

// String names the kind.
func (k Kind) String() string {
	if k <= 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Frame is what a sniffer needs of one ARP or neighbour discovery frame.
type Frame struct {
	// Kind says which message the frame carries.
	Kind Kind
	// SrcHW is the hardware address the frame speaks for: ARP's sender
	// hardware address; for neighbour discovery the link-layer address
	// option (source on a solicitation, target on an advertisement), or the
	// Ethernet source when there is none.
	SrcHW net.HardwareAddr
	// DstHW is the Ethernet destination: broadcast, a multicast group, or
	// one host.
	DstHW net.HardwareAddr
	// SenderIP is ARP's sender protocol address, or the IPv6 source.
	SenderIP netip.Addr
	// TargetIP is ARP's target protocol address, or the neighbour discovery
	// target.
	TargetIP netip.Addr
	// Gratuitous reports an announcement: an ARP packet whose sender and
	// target addresses are the same, or an unsolicited advertisement with
	// the Override flag. (Linux answers a duplicate address detection
	// solicitation with exactly such an advertisement.)
	Gratuitous bool
}

// errNotNeighbour marks frames that are valid but carry something else.
var errNotNeighbour = errors.New("not an ARP or neighbour discovery frame")

// Parse decodes an Ethernet frame carrying ARP for IPv4 over Ethernet, or a
// neighbour solicitation or advertisement. It rejects what a receiving host
// would discard (RFC 4861 section 7.1): a hop limit other than 255, a bad
// ICMPv6 checksum, and so on. It never panics.
func Parse(frame []byte) (Frame, error) {
	f, _, err := parse(frame)
	return f, err
}

// parse is Parse that also returns the Ethernet source, which Conflict
// needs to tell our own frames.
func parse(b []byte) (Frame, net.HardwareAddr, error) {
	var eth ethernet.Frame
	if err := eth.UnmarshalBinary(b); err != nil {
		return Frame{}, nil, fmt.Errorf("parse Ethernet frame: %w", err)
	}
	var (
		f   Frame
		err error
	)
	switch eth.EtherType {
	case ethernet.EtherTypeARP:
		f, err = parseARP(eth.Payload)
	case ethernet.EtherTypeIPv6:
		f, err = parseNDP(eth.Payload, eth.Source)
	default:
		err = fmt.Errorf("EtherType %v: %w", eth.EtherType, errNotNeighbour)
	}
	if err != nil {
		return Frame{}, nil, err
	}
	f.DstHW = eth.Destination
	return f, eth.Source, nil
}

func parseARP(b []byte) (Frame, error) {
	var p arp.Packet
	if err := p.UnmarshalBinary(b); err != nil {
		return Frame{}, fmt.Errorf("parse ARP: %w", err)
	}
	if p.ProtocolType != uint16(ethernet.EtherTypeIPv4) || p.HardwareAddrLength != 6 || p.IPLength != 4 {
		return Frame{}, fmt.Errorf("ARP for protocol %#04x, address lengths %d/%d: %w",
			p.ProtocolType, p.HardwareAddrLength, p.IPLength, errNotNeighbour)
	}
	f := Frame{
		SrcHW:      p.SenderHardwareAddr,
		SenderIP:   p.SenderIP,
		TargetIP:   p.TargetIP,
		Gratuitous: p.SenderIP == p.TargetIP,
	}
	switch p.Operation {
	case arp.OperationRequest:
		f.Kind = ARPRequest
	case arp.OperationReply:
		f.Kind = ARPReply
	default:
		return Frame{}, fmt.Errorf("ARP operation %d: %w", p.Operation, errNotNeighbour)
	}
	return f, nil
}

func parseNDP(b []byte, ethSrc net.HardwareAddr) (Frame, error) {
	if len(b) < ipv6HeaderLen {
		return Frame{}, fmt.Errorf("IPv6 header: %d bytes", len(b))
	}
	if b[0]>>4 != 6 {
		return Frame{}, fmt.Errorf("IP version %d in an IPv6 frame", b[0]>>4)
	}
	if b[6] != protoICMPv6 {
		return Frame{}, fmt.Errorf("IPv6 next header %d: %w", b[6], errNotNeighbour)
	}
	// Whatever follows the payload length is Ethernet padding.
	n := int(binary.BigEndian.Uint16(b[4:6]))
	if n > len(b)-ipv6HeaderLen {
		return Frame{}, fmt.Errorf("IPv6 payload length %d, only %d bytes", n, len(b)-ipv6HeaderLen)
	}
	src := netip.AddrFrom16([16]byte(b[8:24]))
	dst := netip.AddrFrom16([16]byte(b[24:40]))
	body := b[ipv6HeaderLen : ipv6HeaderLen+n]
	if len(body) < 4 {
		return Frame{}, fmt.Errorf("ICMPv6 message: %d bytes", len(body))
	}
	if t := body[0]; t != icmpTypeNeighborSolicitation && t != icmpTypeNeighborAdvertisement {
		return Frame{}, fmt.Errorf("ICMPv6 type %d: %w", t, errNotNeighbour)
	}
	if b[7] != ndpHopLimit {
		return Frame{}, fmt.Errorf("neighbour discovery with hop limit %d, not %d", b[7], ndpHopLimit)
	}
	if body[1] != 0 {
		return Frame{}, fmt.Errorf("neighbour discovery with ICMPv6 code %d", body[1])
	}
	if !checksumOK(src, dst, body) {
		return Frame{}, errors.New("bad ICMPv6 checksum")
	}
	m, err := parseND(body)
	if err != nil {
		return Frame{}, fmt.Errorf("parse neighbour discovery: %w", err)
	}
	f := Frame{SenderIP: src, SrcHW: ethSrc, TargetIP: m.target}
	switch m.typ {
	case icmpTypeNeighborSolicitation:
		f.Kind = NeighborSolicitation
		if src.IsUnspecified() {
			// A duplicate address detection probe: RFC 4861 section
			// 7.1.1 says it goes to a solicited-node group and carries
			// no link-layer address.
			if snm, _ := solicitedNode(m.target); dst != snm || m.sourceLL != nil {
				return Frame{}, errors.New("malformed duplicate address detection solicitation")
			}
		}
		if m.sourceLL != nil {
			f.SrcHW = m.sourceLL
		}
	case icmpTypeNeighborAdvertisement:
		f.Kind = NeighborAdvertisement
		f.Gratuitous = !m.solicited && m.override
		if dst.IsMulticast() && m.solicited {
			return Frame{}, errors.New("solicited neighbour advertisement to a multicast group")
		}
		if m.targetLL != nil {
			f.SrcHW = m.targetLL
		}
	}
	if f.TargetIP.IsMulticast() {
		return Frame{}, fmt.Errorf("neighbour discovery for multicast target %s", f.TargetIP)
	}
	return f, nil
}

// Conflict reports whether a received Ethernet frame shows that a host
// other than ours holds ip, and that host's hardware address. A frame shows
// it (RFC 5227 section 2.1.1, RFC 4862 section 5.4) if it is an ARP packet
// with ip as sender, an ARP probe for ip, a neighbour advertisement for ip,
// a duplicate address detection solicitation for ip, or a solicitation
// sent from ip (as an ARP packet with ip as sender: only a host that holds
// ip uses it as source). Frames from ours,
// by Ethernet source or claimed address, are never a conflict: a packet
// socket also sees what this host sends. It never panics.
func Conflict(frame []byte, ip netip.Addr, ours net.HardwareAddr) (holder net.HardwareAddr, ok bool) {
	f, ethSrc, err := parse(frame)
	if err != nil || bytes.Equal(ethSrc, ours) || bytes.Equal(f.SrcHW, ours) {
		return nil, false
	}
	ip = ip.Unmap().WithZone("")
	switch f.Kind {
	case ARPRequest, ARPReply:
		probe := f.Kind == ARPRequest && f.SenderIP.IsUnspecified() && f.TargetIP == ip
		ok = f.SenderIP == ip || probe
	case NeighborAdvertisement:
		ok = f.TargetIP == ip
	case NeighborSolicitation:
		dad := f.SenderIP.IsUnspecified() && f.TargetIP == ip
		ok = f.SenderIP == ip || dad
	}
	if !ok {
		return nil, false
	}
	return f.SrcHW, true
}
