package neigh

import (
	"bytes"
	"encoding/binary"
	"net"
	"net/netip"
	"strings"
	"testing"
)

// ndBody builds a neighbour discovery message by hand, checksum zero: type,
// code 0, the flags word, the target, then the options as given.
func ndBody(typ uint8, flags uint32, target netip.Addr, opts ...[]byte) []byte {
	b := make([]byte, 24)
	b[0] = typ
	binary.BigEndian.PutUint32(b[4:8], flags)
	t := target.As16()
	copy(b[8:24], t[:])
	for _, o := range opts {
		b = append(b, o...)
	}
	return b
}

// lla builds a link-layer address option: typ 1 (source) or 2 (target).
func lla(typ uint8, hw net.HardwareAddr) []byte { return append([]byte{typ, 1}, hw...) }

// rawOption builds an option of units*8 bytes, its value filled with fill;
// with units 0, an option of 8 bytes that claims length 0.
func rawOption(typ, units uint8, fill byte) []byte {
	o := bytes.Repeat([]byte{fill}, max(int(units), 1)*8)
	o[0], o[1] = typ, units
	return o
}

func equalND(a, b ndMessage) bool {
	return a.typ == b.typ && a.router == b.router && a.solicited == b.solicited && a.override == b.override &&
		a.target == b.target && bytes.Equal(a.sourceLL, b.sourceLL) && bytes.Equal(a.targetLL, b.targetLL) &&
		(a.sourceLL == nil) == (b.sourceLL == nil) && (a.targetLL == nil) == (b.targetLL == nil)
}

// TestNDMarshalKernel encodes what the kernel sent in the fixtures and
// compares byte for byte, checksum included: the kernel is the oracle.
func TestNDMarshalKernel(t *testing.T) {
	snmA, _ := solicitedNode(ip6A)
	tests := []struct {
		file     string
		src, dst netip.Addr
		m        ndMessage
	}{
		{"ns.bin", ip6B, snmA, ndMessage{typ: 135, target: ip6A, sourceLL: hwB}},
		{"na-solicited.bin", ip6B, ip6A, ndMessage{typ: 136, solicited: true, override: true, target: ip6B, targetLL: hwB}},
		{"na-reply-to-dad.bin", ip6B, allNodes6, ndMessage{typ: 136, override: true, target: ip6B, targetLL: hwB}},
		{"ndisc-notify.bin", ip6B, allNodes6, ndMessage{typ: 136, override: true, target: ip6B, targetLL: hwBNew}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			frame := readFixture(t, tt.file)
			want := frame[14+40 : 14+40+int(binary.BigEndian.Uint16(frame[14+4:]))]
			got, err := tt.m.marshal(tt.src, tt.dst)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("marshal =\n% x, the kernel sent\n% x", got, want)
			}
			back, err := parseND(want)
			if err != nil {
				t.Fatal(err)
			}
			if !equalND(back, tt.m) {
				t.Errorf("parseND = %+v, want %+v", back, tt.m)
			}
		})
	}
}

// TestNDRoundTrip encodes messages, checks the wire format by hand, and
// decodes them back.
func TestNDRoundTrip(t *testing.T) {
	target := testIPv6.As16()
	tests := []struct {
		name string
		m    ndMessage
		// want is the message after the checksum.
		want []byte
	}{
		{"solicitation", ndMessage{typ: 135, target: testIPv6},
			append([]byte{0, 0, 0, 0}, target[:]...)},
		{"solicitation with source", ndMessage{typ: 135, target: testIPv6, sourceLL: testHW},
			append(append([]byte{0, 0, 0, 0}, target[:]...), 1, 1, 2, 0, 0, 0, 0, 0x0a)},
		{"advertisement, no flags", ndMessage{typ: 136, target: testIPv6},
			append([]byte{0, 0, 0, 0}, target[:]...)},
		{"advertisement R", ndMessage{typ: 136, router: true, target: testIPv6},
			append([]byte{0x80, 0, 0, 0}, target[:]...)},
		{"advertisement S", ndMessage{typ: 136, solicited: true, target: testIPv6},
			append([]byte{0x40, 0, 0, 0}, target[:]...)},
		{"advertisement O with target", ndMessage{typ: 136, override: true, target: testIPv6, targetLL: testHW},
			append(append([]byte{0x20, 0, 0, 0}, target[:]...), 2, 1, 2, 0, 0, 0, 0, 0x0a)},
		{"advertisement RSO with both", ndMessage{typ: 136, router: true, solicited: true, override: true, target: testIPv6, sourceLL: otherHW, targetLL: testHW},
			append(append([]byte{0xe0, 0, 0, 0}, target[:]...), 1, 1, 2, 0, 0, 0, 0, 0x0b, 2, 1, 2, 0, 0, 0, 0, 0x0a)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := tt.m.marshal(testIPv6, allNodes6)
			if err != nil {
				t.Fatal(err)
			}
			if b[0] != tt.m.typ || b[1] != 0 || !bytes.Equal(b[4:], tt.want) {
				t.Errorf("marshal =\n% x, want\n%02x 00 xx xx % x", b, tt.m.typ, tt.want)
			}
			if !checksumOK(testIPv6, allNodes6, b) {
				t.Errorf("bad checksum in % x", b)
			}
			got, err := parseND(b)
			if err != nil {
				t.Fatal(err)
			}
			if !equalND(got, tt.m) {
				t.Errorf("parseND = %+v, want %+v", got, tt.m)
			}
		})
	}
}

func TestNDMarshalErrors(t *testing.T) {
	tests := []struct {
		name string
		m    ndMessage
	}{
		{"router advertisement", ndMessage{typ: 134, target: testIPv6}},
		{"IPv4 target", ndMessage{typ: 136, target: testIPv4}},
		{"v4-mapped target", ndMessage{typ: 136, target: netip.AddrFrom16(testIPv4.As16())}},
		{"no target", ndMessage{typ: 135}},
		{"zone", ndMessage{typ: 135, target: testIPv6.WithZone("eth0")}},
		{"short source", ndMessage{typ: 135, target: testIPv6, sourceLL: testHW[:5]}},
		{"long target", ndMessage{typ: 136, target: testIPv6, targetLL: make(net.HardwareAddr, 8)}},
	}
	for _, tt := range tests {
		if b, err := tt.m.marshal(testIPv6, allNodes6); err == nil {
			t.Errorf("%s: marshal = % x, want an error", tt.name, b)
		}
	}
}

// TestNDParse covers the options and what parseND rejects.
func TestNDParse(t *testing.T) {
	hwC := net.HardwareAddr{2, 0, 0, 0, 0, 0x0c}
	mapped := netip.AddrFrom16(testIPv4.As16())
	tests := []struct {
		name    string
		b       []byte
		want    ndMessage
		wantErr string // part of the error; empty: no error
	}{
		{"solicitation", ndBody(135, 0, testIPv6), ndMessage{typ: 135, target: testIPv6}, ""},
		{"reserved bits ignored", ndBody(135, 0xffffffff, testIPv6), ndMessage{typ: 135, target: testIPv6}, ""},
		{"advertisement reserved bits ignored", ndBody(136, 0x1fffffff, testIPv6), ndMessage{typ: 136, target: testIPv6}, ""},
		{"flags", ndBody(136, 0xa0000000, testIPv6), ndMessage{typ: 136, router: true, override: true, target: testIPv6}, ""},
		{"source link-layer", ndBody(135, 0, testIPv6, lla(1, testHW)), ndMessage{typ: 135, target: testIPv6, sourceLL: testHW}, ""},
		{"target link-layer", ndBody(136, 0, testIPv6, lla(2, testHW)), ndMessage{typ: 136, target: testIPv6, targetLL: testHW}, ""},
		{
			"unknown options skipped",
			ndBody(136, 0, testIPv6, rawOption(14, 1, 0x55), rawOption(3, 4, 0), lla(2, testHW), rawOption(253, 2, 0xff)),
			ndMessage{typ: 136, target: testIPv6, targetLL: testHW}, "",
		},
		{
			// 33 units is 264 bytes: more than a byte can count.
			"long unknown option skipped",
			ndBody(136, 0, testIPv6, rawOption(200, 33, 1), lla(2, testHW)),
			ndMessage{typ: 136, target: testIPv6, targetLL: testHW}, "",
		},
		{
			// Router advertisement options mean nothing here: a prefix
			// information option of 1 unit (not 4) is skipped unread,
			// as Linux does.
			"router advertisement option skipped",
			ndBody(135, 0, testIPv6, rawOption(3, 1, 0), lla(1, testHW)),
			ndMessage{typ: 135, target: testIPv6, sourceLL: testHW}, "",
		},
		{
			"first of each kind counts",
			ndBody(136, 0, testIPv6, lla(2, testHW), lla(1, otherHW), lla(2, hwC), lla(1, hwC)),
			ndMessage{typ: 136, target: testIPv6, sourceLL: otherHW, targetLL: testHW}, "",
		},
		{"short", ndBody(135, 0, testIPv6)[:23], ndMessage{}, "23 bytes"},
		{"router advertisement", ndBody(134, 0, testIPv6), ndMessage{}, "type 134"},
		{"v4-mapped target", ndBody(136, 0, mapped), ndMessage{}, "IPv4-mapped"},
		{"length 0", ndBody(136, 0, testIPv6, []byte{14, 0, 0, 0, 0, 0, 0, 0}), ndMessage{}, "length 0"},
		{"length 0 after a good option", ndBody(136, 0, testIPv6, lla(2, testHW), []byte{2, 0, 0, 0, 0, 0, 0, 0}), ndMessage{}, "length 0"},
		{"overrun", ndBody(136, 0, testIPv6, rawOption(14, 1, 0), []byte{14, 2, 0, 0, 0, 0, 0, 0}), ndMessage{}, "16 bytes, only 8 left"},
		{"overrun by one", ndBody(136, 0, testIPv6, lla(2, testHW)[:7]), ndMessage{}, "8 bytes, only 7 left"},
		{"lone byte", ndBody(136, 0, testIPv6, lla(2, testHW), []byte{2}), ndMessage{}, "truncated"},
		{"link-layer of 2 units", ndBody(136, 0, testIPv6, rawOption(2, 2, 0)), ndMessage{}, "length 2"},
		{"source link-layer of 3 units", ndBody(135, 0, testIPv6, rawOption(1, 3, 0)), ndMessage{}, "length 3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseND(tt.b)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("parseND = %+v, %v; want an error with %q", got, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !equalND(got, tt.want) {
				t.Errorf("parseND = %+v, want %+v", got, tt.want)
			}
		})
	}
}

// The addresses are copies: a receive buffer may be reused.
func TestNDParseCopies(t *testing.T) {
	b := ndBody(136, 0, testIPv6, lla(1, otherHW), lla(2, testHW))
	m, err := parseND(b)
	if err != nil {
		t.Fatal(err)
	}
	clear(b)
	if !bytes.Equal(m.sourceLL, otherHW) || !bytes.Equal(m.targetLL, testHW) {
		t.Errorf("addresses %s, %s changed with the buffer", m.sourceLL, m.targetLL)
	}
}

func TestOnesSum(t *testing.T) {
	tests := []struct {
		name string
		b    []byte
		want uint16
	}{
		// RFC 1071 section 3: the sum of these bytes is dd f2.
		{"RFC 1071 example", []byte{0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7}, 0xddf2},
		{"odd length pads with zero", []byte{0x01, 0x02, 0x03}, 0x0402},
		{"carry wraps around", []byte{0xff, 0xff, 0x00, 0x01}, 0x0001},
		{"all ones stay", []byte{0xff, 0xff, 0xff, 0xff}, 0xffff},
		{"empty", nil, 0},
	}
	for _, tt := range tests {
		if got := fold(onesSum(tt.b)); got != tt.want {
			t.Errorf("%s: %#04x, want %#04x", tt.name, got, tt.want)
		}
	}
	// Long input, about the most an IPv6 payload holds: 32767 words of
	// ffff carry into the upper bits and still fold to ffff.
	if got := fold(onesSum(bytes.Repeat([]byte{0xff}, 65534))); got != 0xffff {
		t.Errorf("64 KiB of ones: %#04x", got)
	}
}

// TestChecksumMismatch checks that the checksum catches a change in the
// message and in each part of the pseudo-header.
func TestChecksumMismatch(t *testing.T) {
	m := ndMessage{typ: 136, override: true, target: testIPv6, targetLL: testHW}
	b, err := m.marshal(testIPv6, allNodes6)
	if err != nil {
		t.Fatal(err)
	}
	if !checksumOK(testIPv6, allNodes6, b) {
		t.Fatal("checksum of our own message is bad")
	}
	if s := icmpv6Checksum(testIPv6, allNodes6, b); s != 0 && s != 0xffff {
		t.Errorf("checksum over a checksummed message %#04x, want zero", s)
	}
	for i := range b {
		for bit := range 8 {
			bad := bytes.Clone(b)
			bad[i] ^= 1 << bit
			if checksumOK(testIPv6, allNodes6, bad) {
				t.Errorf("checksum OK with bit %d of byte %d flipped", bit, i)
			}
		}
	}
	tests := []struct {
		name     string
		src, dst netip.Addr
		msg      []byte
	}{
		{"other source", ip6B, allNodes6, b},
		{"unspecified source", unspec6, allNodes6, b},
		{"other destination", testIPv6, netip.MustParseAddr("ff02::2"), b},
		// (Swapping source and destination goes unnoticed: addition
		// commutes.)
		// Zero bytes appended leave the message's sum as it was: only
		// the length in the pseudo-header tells.
		{"longer", testIPv6, allNodes6, append(bytes.Clone(b), make([]byte, 8)...)},
	}
	for _, tt := range tests {
		if checksumOK(tt.src, tt.dst, tt.msg) {
			t.Errorf("%s: checksum OK", tt.name)
		}
	}
}

// FuzzND checks that parseND never panics, and that what it accepts
// encodes and decodes back to the same message.
func FuzzND(f *testing.F) {
	f.Add(ndBody(135, 0, testIPv6))
	f.Add(ndBody(136, 0xe0000000, testIPv6, lla(1, testHW), lla(2, otherHW)))
	f.Add(ndBody(135, 0, testIPv6, rawOption(14, 1, 0x55), lla(1, testHW)))
	f.Add(ndBody(136, 0, testIPv6, rawOption(14, 0, 0)))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := parseND(b)
		if err != nil {
			return
		}
		enc, err := m.marshal(ip6B, allNodes6)
		if err != nil {
			t.Fatalf("marshal of parsed %+v: %v", m, err)
		}
		if !checksumOK(ip6B, allNodes6, enc) {
			t.Errorf("bad checksum in % x", enc)
		}
		back, err := parseND(enc)
		if err != nil {
			t.Fatalf("parse of % x: %v", enc, err)
		}
		if !equalND(back, m) {
			t.Errorf("round trip %+v, want %+v", back, m)
		}
	})
}
