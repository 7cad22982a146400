package neigh

import (
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

// Sizes and fields of the IPv6 header that neighbour discovery needs.
const (
	ipv6HeaderLen = 40
	protoICMPv6   = 58
	// ndpHopLimit is the only hop limit receivers accept on neighbour
	// discovery (RFC 4861 section 7.1): it proves the sender is on-link.
	ndpHopLimit = 255
)

// These are slice literals, which the linker lays out: no work at init.
var (
	broadcastHW = net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	zeroHW      = net.HardwareAddr{0, 0, 0, 0, 0, 0}
	allNodesHW  = net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}
)

// allNodes is ff02::1, where unsolicited advertisements go.
func allNodes() netip.Addr { return netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 15: 1}) }

// solicitedNode returns the solicited-node multicast address of ip
// (ff02::1:ffXX:XXXX, RFC 4291 section 2.7.1) and the Ethernet group it
// maps to (33:33:ff:XX:XX:XX, RFC 2464 section 7).
func solicitedNode(ip netip.Addr) (netip.Addr, net.HardwareAddr) {
	a := ip.As16()
	snm := netip.AddrFrom16([16]byte{0: 0xff, 1: 0x02, 11: 0x01, 12: 0xff, 13: a[13], 14: a[14], 15: a[15]})
	return snm, net.HardwareAddr{0x33, 0x33, 0xff, a[13], a[14], a[15]}
}

// checkArgs normalises ip and checks that ip can be claimed and that hw is
// an Ethernet address, the only link layer the package speaks.
func checkArgs(ip netip.Addr, hw net.HardwareAddr) (netip.Addr, error) {
	ip = ip.Unmap().WithZone("")
	switch {
	case !ip.IsValid():
		return ip, errors.New("no IP address given")
	case ip.IsUnspecified() || ip.IsMulticast() || ip.IsLoopback() || ip == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return ip, fmt.Errorf("%s is not a unicast address", ip)
	case len(hw) != 6:
		return ip, fmt.Errorf("hardware address %q is not an Ethernet MAC address", hw)
	}
	return ip, nil
}

// Announcement returns the frames that announce ip as held by hw. For IPv4
// it is a gratuitous ARP request, a gratuitous ARP reply, or both,
// according to mode, each broadcast with ip as both sender and target. For
// IPv6 it is one unsolicited neighbour advertisement from ip to all nodes
// (ff02::1), with the Override flag and hw as target link-layer address;
// mode does not apply. The frames are ready for Conn.Send.
func Announcement(ip netip.Addr, hw net.HardwareAddr, mode Mode) ([][]byte, error) {
	ip, err := checkArgs(ip, hw)
	if err != nil {
		return nil, fmt.Errorf("announce: %w", err)
	}
	if ip.Is6() {
		na := &ndMessage{typ: icmpTypeNeighborAdvertisement, override: true, target: ip, targetLL: hw}
		f, err := ndpFrame(na, ip, allNodes(), hw, allNodesHW)
		if err != nil {
			return nil, fmt.Errorf("announce %s: %w", ip, err)
		}
		return [][]byte{f}, nil
	}
	var ops []arp.Operation
	switch mode {
	case ModeBoth:
		ops = []arp.Operation{arp.OperationRequest, arp.OperationReply}
	case ModeRequest:
		ops = []arp.Operation{arp.OperationRequest}
	case ModeReply:
		ops = []arp.Operation{arp.OperationReply}
	default:
		return nil, fmt.Errorf("announce %s: unknown mode %v", ip, mode)
	}
	var frames [][]byte
	for _, op := range ops {
		// RFC 5227 wants the target hardware address of a request zero.
		// Linux takes a reply as gratuitous only if its target hardware
		// address equals its sender's; otherwise it heeds the reply only
		// once the entry is older than its locktime.
		tha := zeroHW
		if op == arp.OperationReply {
			tha = hw
		}
		f, err := arpFrame(op, hw, ip, tha, ip)
		if err != nil {
			return nil, fmt.Errorf("announce %s: %w", ip, err)
		}
		frames = append(frames, f)
	}
	return frames, nil
}

// probeFrame returns the frame that asks whether anyone holds ip: an ARP
// probe (RFC 5227 section 2.1.1) or a duplicate address detection neighbour
// solicitation (RFC 4862 section 5.4.2). Both come from an unspecified
// address, so no host learns a binding from them.
func probeFrame(ip netip.Addr, hw net.HardwareAddr) ([]byte, error) {
	if ip.Is4() {
		return arpFrame(arp.OperationRequest, hw, netip.IPv4Unspecified(), zeroHW, ip)
	}
	snm, snmHW := solicitedNode(ip)
	ns := &ndMessage{typ: icmpTypeNeighborSolicitation, target: ip}
	return ndpFrame(ns, netip.IPv6Unspecified(), snm, hw, snmHW)
}

// arpFrame builds a broadcast Ethernet frame carrying one ARP packet.
func arpFrame(op arp.Operation, sha net.HardwareAddr, spa netip.Addr, tha net.HardwareAddr, tpa netip.Addr) ([]byte, error) {
	p, err := arp.NewPacket(op, sha, spa, tha, tpa)
	if err != nil {
		return nil, fmt.Errorf("build ARP %v: %w", op, err)
	}
	pb, err := p.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal ARP %v: %w", op, err)
	}
	return ethFrame(broadcastHW, sha, ethernet.EtherTypeARP, pb)
}

// ndpFrame builds an Ethernet frame carrying one neighbour discovery
// message in an IPv6 packet from src to dst.
func ndpFrame(m *ndMessage, src, dst netip.Addr, srcHW, dstHW net.HardwareAddr) ([]byte, error) {
	body, err := m.marshal(src, dst)
	if err != nil {
		return nil, fmt.Errorf("marshal ICMPv6 type %d: %w", m.typ, err)
	}
	pkt := make([]byte, ipv6HeaderLen, ipv6HeaderLen+len(body))
	pkt[0] = 6 << 4 // version; traffic class and flow label zero
	binary.BigEndian.PutUint16(pkt[4:6], uint16(len(body)))
	pkt[6] = protoICMPv6
	pkt[7] = ndpHopLimit
	s, d := src.As16(), dst.As16()
	copy(pkt[8:24], s[:])
	copy(pkt[24:40], d[:])
	return ethFrame(dstHW, srcHW, ethernet.EtherTypeIPv6, append(pkt, body...))
}

func ethFrame(dst, src net.HardwareAddr, et ethernet.EtherType, payload []byte) ([]byte, error) {
	f := &ethernet.Frame{Destination: dst, Source: src, EtherType: et, Payload: payload}
	b, err := f.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("marshal Ethernet frame: %w", err)
	}
	return b, nil
}
