package neigh

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// The addresses of nstest's pair, in which TestRecord recorded the
// fixtures: A sniffed, B's kernel spoke.
var (
	hwA    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0a}
	hwB    = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0b}
	hwBNew = net.HardwareAddr{0x02, 0, 0, 0, 0, 0x0c} // recordNewHW
	ip4A   = netip.MustParseAddr("198.19.255.1")
	ip4B   = netip.MustParseAddr("198.19.255.2")
	ip6A   = netip.MustParseAddr("2001:2:0:ffff::1")
	ip6B   = netip.MustParseAddr("2001:2:0:ffff::2")
	ip6DAD = netip.MustParseAddr("2001:2:0:ffff::20") // recordDADAddr
)

// conflictCase is one question to Conflict about a frame.
type conflictCase struct {
	ip     netip.Addr
	ours   net.HardwareAddr
	holder net.HardwareAddr // nil: no conflict
}

// TestFixtures checks Parse and Conflict on frames the Linux kernel sent.
func TestFixtures(t *testing.T) {
	tests := []struct {
		file     string
		want     Frame
		conflict []conflictCase
	}{
		{
			file: "arp-request.bin", // B resolves A
			want: Frame{Kind: ARPRequest, SrcHW: hwB, DstHW: broadcastHW, SenderIP: ip4B, TargetIP: ip4A},
			conflict: []conflictCase{
				{ip4B, hwA, hwB}, // B uses .2 as sender: it holds it
				{ip4A, hwA, nil}, // being asked for is no claim
				{ip4B, hwB, nil}, // our own frame
				{ip6B, hwA, nil},
			},
		},
		{
			file: "arp-reply.bin", // B answers A's resolution
			want: Frame{Kind: ARPReply, SrcHW: hwB, DstHW: hwA, SenderIP: ip4B, TargetIP: ip4A},
			conflict: []conflictCase{
				{ip4B, hwA, hwB},
				{ip4A, hwA, nil},
			},
		},
		{
			// Linux answers an ARP probe by unicast, with target IP
			// 0.0.0.0 and the prober's MAC as target.
			file: "arp-reply-to-probe.bin",
			want: Frame{Kind: ARPReply, SrcHW: hwB, DstHW: hwA, SenderIP: ip4B, TargetIP: netip.IPv4Unspecified()},
			conflict: []conflictCase{
				{ip4B, hwA, hwB},
				{ip4B, hwB, nil},
				{ip4A, hwA, nil},
			},
		},
		{
			// arp_notify: a gratuitous request with the new MAC.
			file: "arp-notify.bin",
			want: Frame{Kind: ARPRequest, SrcHW: hwBNew, DstHW: broadcastHW, SenderIP: ip4B, TargetIP: ip4B, Gratuitous: true},
			conflict: []conflictCase{
				{ip4B, hwA, hwBNew},
				{ip4B, hwBNew, nil},
			},
		},
		{
			file: "ns.bin", // B resolves A, from its own address
			want: Frame{Kind: NeighborSolicitation, SrcHW: hwB, DstHW: net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 1}, SenderIP: ip6B, TargetIP: ip6A},
			conflict: []conflictCase{
				{ip6A, hwA, nil},
				{ip6B, hwA, hwB},
				{ip6B, hwB, nil},
				{ip4B, hwA, nil},
			},
		},
		{
			file: "na-solicited.bin", // B answers A's resolution
			want: Frame{Kind: NeighborAdvertisement, SrcHW: hwB, DstHW: hwA, SenderIP: ip6B, TargetIP: ip6B},
			conflict: []conflictCase{
				{ip6B, hwA, hwB},
				{ip6A, hwA, nil},
			},
		},
		{
			// Linux answers a DAD solicitation with an unsolicited,
			// overriding advertisement to all nodes.
			file: "na-reply-to-dad.bin",
			want: Frame{Kind: NeighborAdvertisement, SrcHW: hwB, DstHW: allNodesHW, SenderIP: ip6B, TargetIP: ip6B, Gratuitous: true},
			conflict: []conflictCase{
				{ip6B, hwA, hwB},
				{ip6B, hwB, nil},
			},
		},
		{
			// B's own DAD, with an RFC 7527 nonce option.
			file: "ns-dad.bin",
			want: Frame{Kind: NeighborSolicitation, SrcHW: hwB, DstHW: net.HardwareAddr{0x33, 0x33, 0xff, 0, 0, 0x20}, SenderIP: netip.IPv6Unspecified(), TargetIP: ip6DAD},
			conflict: []conflictCase{
				{ip6DAD, hwA, hwB}, // a simultaneous probe
				{ip6DAD, hwB, nil},
				{ip6B, hwA, nil},
			},
		},
		{
			// ndisc_notify: the advertisement that follows a MAC change.
			file: "ndisc-notify.bin",
			want: Frame{Kind: NeighborAdvertisement, SrcHW: hwBNew, DstHW: allNodesHW, SenderIP: ip6B, TargetIP: ip6B, Gratuitous: true},
			conflict: []conflictCase{
				{ip6B, hwA, hwBNew},
				{ip6B, hwBNew, nil},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			frame := readFixture(t, tt.file)
			got, err := Parse(frame)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if !equalFrame(got, tt.want) {
				t.Errorf("Parse =\n%+v, want\n%+v", got, tt.want)
			}
			checkConflicts(t, frame, tt.conflict)
		})
	}
}

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func checkConflicts(t *testing.T, frame []byte, cases []conflictCase) {
	t.Helper()
	for _, c := range cases {
		holder, ok := Conflict(frame, c.ip, c.ours)
		if ok != (c.holder != nil) || !bytes.Equal(holder, c.holder) {
			t.Errorf("Conflict(ip %s, ours %s) = %s, %v; want %s", c.ip, c.ours, holder, ok, c.holder)
		}
	}
}

// TestFixtureChecksums checks the checksum code against the kernel's, and
// that the kernel's NDP frames are what the package sends itself.
func TestFixtureChecksums(t *testing.T) {
	files, err := filepath.Glob("testdata/n*.bin")
	if err != nil || len(files) == 0 {
		t.Fatalf("no NDP fixtures (%v)", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		decodeNDP(t, b)
	}
}

// mutate returns a copy of frame changed by f.
func mutate(frame []byte, f func(b []byte) []byte) []byte { return f(bytes.Clone(frame)) }

// fixChecksum recomputes the ICMPv6 checksum of an IPv6 frame after a
// mutation, so that the mutation alone is tested.
func fixChecksum(b []byte) []byte {
	ip := b[14:]
	n := int(binary.BigEndian.Uint16(ip[4:6]))
	body := ip[40 : 40+n]
	body[2], body[3] = 0, 0
	var sum uint32
	for i := 8; i < 40; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	sum += uint32(n) + 58
	for i := 0; i+1 < len(body); i += 2 {
		sum += uint32(binary.BigEndian.Uint16(body[i:]))
	}
	if len(body)%2 == 1 {
		sum += uint32(body[len(body)-1]) << 8
	}
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	binary.BigEndian.PutUint16(body[2:], ^uint16(sum))
	return b
}

// withOptions returns a copy of a neighbour discovery frame (without
// Ethernet padding) with opts in place of its options, its payload length
// and checksum made right.
func withOptions(frame []byte, opts ...[]byte) []byte {
	b := bytes.Clone(frame[:14+40+24])
	for _, o := range opts {
		b = append(b, o...)
	}
	binary.BigEndian.PutUint16(b[18:], uint16(len(b)-14-40))
	return fixChecksum(b)
}

// TestConflictSynthetic covers what the kernel did not send: our own
// frames, simultaneous probes, and frames a receiver must discard.
func TestConflictSynthetic(t *testing.T) {
	must := func(frames [][]byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return frames[0]
	}
	mustOne := func(b []byte, err error) []byte {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	garp4 := must(Announcement(ip4B, hwB, ModeRequest))
	grep4 := must(Announcement(ip4B, hwB, ModeReply))
	na6 := must(Announcement(ip6B, hwB, ModeBoth))
	probe4 := mustOne(probeFrame(ip4B, hwB))
	dad6 := mustOne(probeFrame(ip6B, hwB))
	nsFixture := readFixture(t, "ns.bin")
	naSolicited := readFixture(t, "na-solicited.bin")

	tests := []struct {
		name     string
		frame    []byte
		parseErr bool
		conflict []conflictCase
	}{
		{"gratuitous request", garp4, false, []conflictCase{{ip4B, hwA, hwB}, {ip4B, hwB, nil}, {ip4A, hwA, nil}}},
		{"gratuitous reply", grep4, false, []conflictCase{{ip4B, hwA, hwB}, {ip4B, hwB, nil}}},
		{"unsolicited advertisement", na6, false, []conflictCase{{ip6B, hwA, hwB}, {ip6B, hwB, nil}, {ip6A, hwA, nil}}},
		{"ARP probe", probe4, false, []conflictCase{{ip4B, hwA, hwB}, {ip4B, hwB, nil}, {ip4A, hwA, nil}}},
		{"DAD solicitation", dad6, false, []conflictCase{{ip6B, hwA, hwB}, {ip6B, hwB, nil}, {ip6A, hwA, nil}}},
		{"v4-mapped ip", garp4, false, []conflictCase{{netip.AddrFrom16(ip4B.As16()), hwA, hwB}}},
		{
			// Another host relaying our frame: the claimed address is ours.
			"our MAC from another port", mutate(garp4, func(b []byte) []byte { copy(b[6:12], hwA); return b }),
			false, []conflictCase{{ip4B, hwB, nil}},
		},
		{
			"ARP reply probe is no probe", mutate(probe4, func(b []byte) []byte { b[21] = 2; return b }),
			false, []conflictCase{{ip4B, hwA, nil}},
		},
		{"ARP operation 3", mutate(garp4, func(b []byte) []byte { b[21] = 3; return b }), true, nil},
		{"ARP for IPv6", mutate(garp4, func(b []byte) []byte { b[16] = 0x86; b[17] = 0xdd; return b }), true, nil},
		{"ARP hardware length 8", mutate(garp4, func(b []byte) []byte { b[18] = 8; return b }), true, nil},
		{"ARP truncated", garp4[:30], true, nil},
		{"IPv4 frame", mutate(garp4, func(b []byte) []byte { b[12], b[13] = 0x08, 0x00; return b }), true, nil},
		{"Ethernet header only", garp4[:14], true, nil},
		{"empty", nil, true, nil},
		{"hop limit 254", mutate(na6, func(b []byte) []byte { b[21] = 254; return fixChecksum(b) }), true, nil},
		{"bad checksum", mutate(na6, func(b []byte) []byte { b[14+40+2] ^= 0xff; return b }), true, nil},
		{"ICMPv6 code 1", mutate(na6, func(b []byte) []byte { b[14+40+1] = 1; return fixChecksum(b) }), true, nil},
		{"IPv6 version 4", mutate(na6, func(b []byte) []byte { b[14] = 0x40; return b }), true, nil},
		{"payload length too long", mutate(na6, func(b []byte) []byte { b[18], b[19] = 0x01, 0x00; return b }), true, nil},
		{"hop-by-hop header", mutate(na6, func(b []byte) []byte { b[20] = 0; return b }), true, nil},
		{"router advertisement", mutate(na6, func(b []byte) []byte { b[14+40] = 134; return fixChecksum(b) }), true, nil},
		{"echo request", mutate(na6, func(b []byte) []byte { b[14+40] = 128; return fixChecksum(b) }), true, nil},
		{
			"DAD solicitation with source link-layer address",
			mutate(dad6, func(b []byte) []byte {
				b = append(b[:14+40+24], 1, 1, 2, 0, 0, 0, 0, 0x0b)
				binary.BigEndian.PutUint16(b[18:], 32)
				return fixChecksum(b)
			}),
			true, nil,
		},
		{
			"DAD solicitation to all nodes",
			mutate(dad6, func(b []byte) []byte { copy(b[14+24:14+40], allNodes6.AsSlice()); return fixChecksum(b) }),
			true, nil,
		},
		{
			"solicited advertisement to all nodes",
			mutate(na6, func(b []byte) []byte { b[14+40+4] |= 0x40; return fixChecksum(b) }),
			true, nil,
		},
		{
			"multicast target",
			mutate(na6, func(b []byte) []byte { copy(b[14+40+8:], allNodes6.AsSlice()); return fixChecksum(b) }),
			true, nil,
		},
		{
			// Without a target link-layer option the Ethernet source is
			// the holder.
			"advertisement without option",
			mutate(naSolicited, func(b []byte) []byte {
				b = b[:14+40+24]
				binary.BigEndian.PutUint16(b[18:], 24)
				return fixChecksum(b)
			}),
			false, []conflictCase{{ip6B, hwA, hwB}},
		},
		{
			// The link-layer option names the holder, not the Ethernet
			// source (a proxy or a bridge may relay it).
			"option differs from source",
			mutate(naSolicited, func(b []byte) []byte { b[len(b)-1] = 0x0d; return fixChecksum(b) }),
			false, []conflictCase{{ip6B, hwA, net.HardwareAddr{2, 0, 0, 0, 0, 0x0d}}},
		},
		{
			"v4-mapped target",
			mutate(naSolicited, func(b []byte) []byte {
				copy(b[14+40+8:], netip.AddrFrom16(ip4B.As16()).AsSlice())
				return fixChecksum(b)
			}),
			true, nil,
		},
		{"option of length 0", withOptions(naSolicited, lla(2, hwB), []byte{14, 0, 0, 0, 0, 0, 0, 0}), true, nil},
		{"option past the message", withOptions(naSolicited, []byte{2, 2, 2, 0, 0, 0, 0, 0x0b}), true, nil},
		{"lone byte after the options", withOptions(naSolicited, lla(2, hwB), []byte{0}), true, nil},
		{"link-layer option of 2 units", withOptions(naSolicited, rawOption(2, 2, 0x0b)), true, nil},
		{
			// An RFC 7527 nonce and an option no one defined are skipped.
			"unknown options before the link-layer option",
			withOptions(naSolicited, rawOption(14, 1, 0x55), rawOption(250, 33, 0xaa), lla(2, net.HardwareAddr{2, 0, 0, 0, 0, 0x0d})),
			false, []conflictCase{{ip6B, hwA, net.HardwareAddr{2, 0, 0, 0, 0, 0x0d}}},
		},
		{
			// Only the target option names an advertisement's holder.
			"advertisement with a source option",
			withOptions(naSolicited, lla(1, net.HardwareAddr{2, 0, 0, 0, 0, 0x0d})),
			false, []conflictCase{{ip6B, hwA, hwB}},
		},
		{
			"solicitation with two source options",
			withOptions(nsFixture, lla(1, net.HardwareAddr{2, 0, 0, 0, 0, 0x0d}), lla(1, hwB)),
			false, []conflictCase{{ip6B, hwA, net.HardwareAddr{2, 0, 0, 0, 0, 0x0d}}},
		},
		{
			"Ethernet padding after the message",
			append(bytes.Clone(nsFixture), make([]byte, 10)...),
			false, []conflictCase{{ip6B, hwA, hwB}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(tt.frame)
			if (err != nil) != tt.parseErr {
				t.Errorf("Parse error %v, want error %v", err, tt.parseErr)
			}
			if tt.parseErr {
				for _, ip := range []netip.Addr{ip4A, ip4B, ip6A, ip6B} {
					if h, ok := Conflict(tt.frame, ip, hwA); ok {
						t.Errorf("Conflict(%s) = %s on a frame Parse rejects", ip, h)
					}
				}
			}
			checkConflicts(t, tt.frame, tt.conflict)
		})
	}
}

func TestKindString(t *testing.T) {
	tests := []struct {
		k    Kind
		want string
	}{
		{ARPRequest, "ARP request"},
		{ARPReply, "ARP reply"},
		{NeighborSolicitation, "neighbour solicitation"},
		{NeighborAdvertisement, "neighbour advertisement"},
		{0, "Kind(0)"},
		{9, "Kind(9)"},
	}
	for _, tt := range tests {
		if got := tt.k.String(); got != tt.want {
			t.Errorf("Kind(%d).String() = %q, want %q", int(tt.k), got, tt.want)
		}
	}
}

// The kernel's DAD solicitation carries a nonce (RFC 7527; type 14, RFC
// 3971 section 5.3.2), an option Parse does not know and must skip: decoded
// by hand, a guard against Parse and the fixture agreeing on something the
// wire format says otherwise.
func TestFixtureNonce(t *testing.T) {
	f := decodeNDP(t, readFixture(t, "ns-dad.bin"))
	if f.typ != 135 || len(f.options) != 1 {
		t.Fatalf("ns-dad: type %d, options % x; want a solicitation with one option", f.typ, f.options)
	}
	if o := f.options[0]; o[0] != 14 || o[1] != 1 {
		t.Errorf("ns-dad option type %d length %d, want the kernel's DAD nonce (14, 1)", o[0], o[1])
	}
}
