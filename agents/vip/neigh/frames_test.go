package neigh

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/mdlayher/arp"
	"github.com/mdlayher/ethernet"
)

var (
	testHW    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	otherHW   = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	testIPv4  = netip.MustParseAddr("198.19.255.10")
	testIPv6  = netip.MustParseAddr("2001:2:0:ffff::10")
	unspec4   = netip.IPv4Unspecified()
	unspec6   = netip.IPv6Unspecified()
	allNodes6 = netip.MustParseAddr("ff02::1")
)

func TestParseMode(t *testing.T) {
	tests := []struct {
		in      string
		want    Mode
		wantErr bool
	}{
		{"both", ModeBoth, false},
		{"request", ModeRequest, false},
		{"reply", ModeReply, false},
		{"", 0, true},
		{"Both", 0, true},
		{"requests", 0, true},
	}
	for _, tt := range tests {
		got, err := ParseMode(tt.in)
		if tt.wantErr {
			if err == nil {
				t.Errorf("ParseMode(%q) = %v, want an error", tt.in, got)
			} else if !strings.Contains(err.Error(), "both, request, reply") {
				t.Errorf("ParseMode(%q) error %q does not list the valid modes", tt.in, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseMode(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
		if got.String() != tt.in {
			t.Errorf("%v.String() = %q, want %q", got, got.String(), tt.in)
		}
	}
	if s := Mode(7).String(); s != "Mode(7)" {
		t.Errorf("Mode(7).String() = %q", s)
	}
}

// arpFields is what an ARP frame carries, decoded by the libraries
// independently of Parse.
type arpFields struct {
	ethDst, ethSrc net.HardwareAddr
	op             arp.Operation
	sha            net.HardwareAddr
	spa            netip.Addr
	tha            net.HardwareAddr
	tpa            netip.Addr
}

func decodeARP(t *testing.T, b []byte) arpFields {
	t.Helper()
	var eth ethernet.Frame
	if err := eth.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if eth.EtherType != ethernet.EtherTypeARP {
		t.Fatalf("EtherType %v, want ARP", eth.EtherType)
	}
	var p arp.Packet
	if err := p.UnmarshalBinary(eth.Payload); err != nil {
		t.Fatal(err)
	}
	if p.HardwareType != 1 || p.ProtocolType != 0x0800 || p.HardwareAddrLength != 6 || p.IPLength != 4 {
		t.Errorf("ARP header %+v, want Ethernet/IPv4", p)
	}
	return arpFields{eth.Destination, eth.Source, p.Operation, p.SenderHardwareAddr, p.SenderIP, p.TargetHardwareAddr, p.TargetIP}
}

// ndpFields is what a neighbour discovery frame carries, decoded by hand
// at the offsets of RFC 8200 section 3 and RFC 4861 sections 4.3, 4.4 and
// 4.6, independently of Parse and parseND.
type ndpFields struct {
	ethDst, ethSrc net.HardwareAddr
	src, dst       netip.Addr
	hopLimit       uint8
	typ, code      uint8
	// flags is the word after the checksum: an advertisement's R, S and O
	// flags in its top bits, the rest reserved.
	flags   uint32
	target  netip.Addr
	options [][]byte // each whole: type, length, value
}

func decodeNDP(t *testing.T, b []byte) ndpFields {
	t.Helper()
	var eth ethernet.Frame
	if err := eth.UnmarshalBinary(b); err != nil {
		t.Fatal(err)
	}
	if eth.EtherType != ethernet.EtherTypeIPv6 {
		t.Fatalf("EtherType %v, want IPv6", eth.EtherType)
	}
	ip := eth.Payload
	if len(ip) < 40 || ip[0] != 0x60 || ip[1] != 0 || ip[2] != 0 || ip[3] != 0 {
		t.Fatalf("IPv6 header % x", ip[:min(len(ip), 40)])
	}
	if ip[6] != 58 {
		t.Errorf("next header %d, want 58", ip[6])
	}
	n := int(binary.BigEndian.Uint16(ip[4:6]))
	body := ip[40 : 40+n]
	f := ndpFields{
		ethDst: eth.Destination, ethSrc: eth.Source,
		src: netip.AddrFrom16([16]byte(ip[8:24])), dst: netip.AddrFrom16([16]byte(ip[24:40])),
		hopLimit: ip[7],
	}
	if !checksumOK(f.src, f.dst, body) {
		t.Errorf("bad ICMPv6 checksum in % x", body)
	}
	// Any changed byte must break the checksum.
	for i := range body {
		bad := bytes.Clone(body)
		bad[i] ^= 0x01
		if checksumOK(f.src, f.dst, bad) {
			t.Errorf("checksum still OK with byte %d changed", i)
		}
	}
	if len(body) < 24 {
		t.Fatalf("neighbour discovery message % x: shorter than 24 bytes", body)
	}
	f.typ, f.code = body[0], body[1]
	f.flags = binary.BigEndian.Uint32(body[4:8])
	f.target = netip.AddrFrom16([16]byte(body[8:24]))
	for o := body[24:]; len(o) > 0; {
		if len(o) < 2 || o[1] == 0 || int(o[1])*8 > len(o) {
			t.Fatalf("malformed options % x", body[24:])
		}
		f.options = append(f.options, o[:int(o[1])*8])
		o = o[int(o[1])*8:]
	}
	return f
}

func TestAnnouncementIPv4(t *testing.T) {
	request := arpFields{broadcastHW, testHW, arp.OperationRequest, testHW, testIPv4, zeroHW, testIPv4}
	reply := arpFields{broadcastHW, testHW, arp.OperationReply, testHW, testIPv4, testHW, testIPv4}
	tests := []struct {
		mode Mode
		want []arpFields
	}{
		{ModeBoth, []arpFields{request, reply}},
		{ModeRequest, []arpFields{request}},
		{ModeReply, []arpFields{reply}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			frames, err := Announcement(testIPv4, testHW, tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != len(tt.want) {
				t.Fatalf("%d frames, want %d", len(frames), len(tt.want))
			}
			for i, f := range frames {
				if len(f) != 60 {
					t.Errorf("frame %d: %d bytes, want 60 (padded to the Ethernet minimum)", i, len(f))
				}
				got := decodeARP(t, f)
				if !equalARP(got, tt.want[i]) {
					t.Errorf("frame %d:\n got %+v\nwant %+v", i, got, tt.want[i])
				}
				p, err := Parse(f)
				if err != nil {
					t.Fatal(err)
				}
				wantKind := ARPRequest
				if tt.want[i].op == arp.OperationReply {
					wantKind = ARPReply
				}
				want := Frame{Kind: wantKind, SrcHW: testHW, DstHW: broadcastHW, SenderIP: testIPv4, TargetIP: testIPv4, Gratuitous: true}
				if !equalFrame(p, want) {
					t.Errorf("Parse = %+v, want %+v", p, want)
				}
			}
		})
	}
}

func equalARP(a, b arpFields) bool {
	return bytes.Equal(a.ethDst, b.ethDst) && bytes.Equal(a.ethSrc, b.ethSrc) && a.op == b.op &&
		bytes.Equal(a.sha, b.sha) && a.spa == b.spa && bytes.Equal(a.tha, b.tha) && a.tpa == b.tpa
}

func equalFrame(a, b Frame) bool {
	return a.Kind == b.Kind && bytes.Equal(a.SrcHW, b.SrcHW) && bytes.Equal(a.DstHW, b.DstHW) && a.SenderIP == b.SenderIP &&
		a.TargetIP == b.TargetIP && a.Gratuitous == b.Gratuitous
}

func TestAnnouncementIPv6(t *testing.T) {
	// The mode is for ARP only; every mode gives the same advertisement.
	for _, mode := range []Mode{ModeBoth, ModeRequest, ModeReply} {
		t.Run(mode.String(), func(t *testing.T) {
			frames, err := Announcement(testIPv6, testHW, mode)
			if err != nil {
				t.Fatal(err)
			}
			if len(frames) != 1 {
				t.Fatalf("%d frames, want 1", len(frames))
			}
			f := decodeNDP(t, frames[0])
			if !bytes.Equal(f.ethDst, net.HardwareAddr{0x33, 0x33, 0, 0, 0, 1}) || !bytes.Equal(f.ethSrc, testHW) {
				t.Errorf("Ethernet %s > %s", f.ethSrc, f.ethDst)
			}
			if f.src != testIPv6 || f.dst != allNodes6 || f.hopLimit != 255 {
				t.Errorf("IPv6 %s > %s hop limit %d", f.src, f.dst, f.hopLimit)
			}
			if f.typ != 136 || f.code != 0 {
				t.Fatalf("ICMPv6 type %d code %d, want a neighbour advertisement (136, 0)", f.typ, f.code)
			}
			if f.flags != 0x20000000 || f.target != testIPv6 {
				t.Errorf("advertisement flags %#08x for %s, want R=0 S=0 O=1 (0x20000000) for %s", f.flags, f.target, testIPv6)
			}
			// Target link-layer address: type 2, one unit of 8 bytes.
			if want := append([]byte{2, 1}, testHW...); len(f.options) != 1 || !bytes.Equal(f.options[0], want) {
				t.Errorf("options % x, want only target link-layer address % x", f.options, want)
			}
			p, err := Parse(frames[0])
			if err != nil {
				t.Fatal(err)
			}
			want := Frame{Kind: NeighborAdvertisement, SrcHW: testHW, DstHW: allNodesHW, SenderIP: testIPv6, TargetIP: testIPv6, Gratuitous: true}
			if !equalFrame(p, want) {
				t.Errorf("Parse = %+v, want %+v", p, want)
			}
		})
	}
}

func TestProbeFrame(t *testing.T) {
	t.Run("IPv4", func(t *testing.T) {
		b, err := probeFrame(testIPv4, testHW)
		if err != nil {
			t.Fatal(err)
		}
		want := arpFields{broadcastHW, testHW, arp.OperationRequest, testHW, unspec4, zeroHW, testIPv4}
		if got := decodeARP(t, b); !equalARP(got, want) {
			t.Errorf("\n got %+v\nwant %+v", got, want)
		}
	})
	t.Run("IPv6", func(t *testing.T) {
		b, err := probeFrame(testIPv6, testHW)
		if err != nil {
			t.Fatal(err)
		}
		f := decodeNDP(t, b)
		if !bytes.Equal(f.ethDst, net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 0x10}) || !bytes.Equal(f.ethSrc, testHW) {
			t.Errorf("Ethernet %s > %s", f.ethSrc, f.ethDst)
		}
		if want := netip.MustParseAddr("ff02::1:ff00:10"); f.src != unspec6 || f.dst != want || f.hopLimit != 255 {
			t.Errorf("IPv6 %s > %s hop limit %d, want :: > %s hop limit 255", f.src, f.dst, f.hopLimit, want)
		}
		if f.typ != 135 || f.code != 0 {
			t.Fatalf("ICMPv6 type %d code %d, want a neighbour solicitation (135, 0)", f.typ, f.code)
		}
		if f.flags != 0 || f.target != testIPv6 || len(f.options) != 0 {
			t.Errorf("solicitation reserved %#08x, target %s, options % x; want 0, %s and no options", f.flags, f.target, f.options, testIPv6)
		}
	})
}

func TestSolicitedNode(t *testing.T) {
	tests := []struct {
		ip     string
		want   string
		wantHW string
	}{
		{"2001:2:0:ffff::10", "ff02::1:ff00:10", "33:33:ff:00:00:10"},
		{"fe80::aabb:ccff:fedd:eeff", "ff02::1:ffdd:eeff", "33:33:ff:dd:ee:ff"},
	}
	for _, tt := range tests {
		got, hw := solicitedNode(netip.MustParseAddr(tt.ip))
		if got.String() != tt.want || hw.String() != tt.wantHW {
			t.Errorf("solicitedNode(%s) = %s, %s; want %s, %s", tt.ip, got, hw, tt.want, tt.wantHW)
		}
	}
}

func TestAnnouncementErrors(t *testing.T) {
	tests := []struct {
		name string
		ip   netip.Addr
		hw   net.HardwareAddr
		mode Mode
	}{
		{"no address", netip.Addr{}, testHW, ModeBoth},
		{"unspecified", unspec4, testHW, ModeBoth},
		{"multicast", netip.MustParseAddr("ff02::1"), testHW, ModeBoth},
		{"broadcast", netip.MustParseAddr("255.255.255.255"), testHW, ModeBoth},
		{"short MAC", testIPv4, testHW[:5], ModeBoth},
		{"InfiniBand", testIPv4, make(net.HardwareAddr, 20), ModeBoth},
		{"bad mode", testIPv4, testHW, Mode(9)},
	}
	for _, tt := range tests {
		if f, err := Announcement(tt.ip, tt.hw, tt.mode); err == nil {
			t.Errorf("%s: Announcement = %d frames, want an error", tt.name, len(f))
		}
	}
	// A v4-mapped address is IPv4.
	f, err := Announcement(netip.AddrFrom16(testIPv4.As16()), testHW, ModeRequest)
	if err != nil {
		t.Fatal(err)
	}
	if got := decodeARP(t, f[0]); got.spa != testIPv4 {
		t.Errorf("mapped address announced as %s", got.spa)
	}
}
