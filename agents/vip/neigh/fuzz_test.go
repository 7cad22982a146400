package neigh

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
)

// addFixtures seeds a fuzz target with the kernel's frames and ours.
func addFixtures(f *testing.F, add func(frame []byte)) {
	f.Helper()
	files, err := filepath.Glob("testdata/*.bin")
	if err != nil || len(files) == 0 {
		f.Fatalf("no fixtures in testdata (%v)", err)
	}
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
	for _, ip := range []netip.Addr{ip4B, ip6B} {
		frames, err := Announcement(ip, hwB, ModeBoth)
		if err != nil {
			f.Fatal(err)
		}
		probe, err := probeFrame(ip, hwB)
		if err != nil {
			f.Fatal(err)
		}
		for _, b := range append(frames, probe) {
			add(b)
		}
	}
	// Options the parser skips or rejects, so that the fuzzer starts with
	// every branch of it covered.
	na, err := os.ReadFile("testdata/na-solicited.bin")
	if err != nil {
		f.Fatal(err)
	}
	for _, opts := range [][][]byte{
		{rawOption(14, 1, 0x55), lla(2, hwB)},
		{lla(2, hwB), rawOption(14, 0, 0)},
		{{2, 2, 2, 0, 0, 0, 0, 0x0b}},
		{lla(2, hwB), {0}},
		{rawOption(2, 2, 0)},
	} {
		add(withOptions(na, opts...))
	}
	// A message too short for its target, and an IPv4-mapped target.
	short := bytes.Clone(na[:14+40+20])
	short[19] = 20
	add(fixChecksum(short))
	mapped := bytes.Clone(na)
	copy(mapped[14+40+8:], netip.AddrFrom16(ip4B.As16()).AsSlice())
	add(fixChecksum(mapped))
}

// FuzzParse checks that Parse never panics, and that what it accepts is
// consistent: ARP carries IPv4, neighbour discovery IPv6, and every frame
// names both MACs.
func FuzzParse(f *testing.F) {
	addFixtures(f, func(b []byte) { f.Add(b) })
	f.Fuzz(func(t *testing.T, frame []byte) {
		checkParse(t, frame)
		// The checksum hides the options from random mutation; parse a
		// repaired copy too, so the fuzzer reaches the option parser.
		if b, ok := repairChecksum(frame); ok {
			checkParse(t, b)
		}
	})
}

// repairChecksum returns a copy of an IPv6 frame with its ICMPv6 checksum
// made right, if the frame is long enough to have one.
func repairChecksum(frame []byte) ([]byte, bool) {
	if len(frame) < 14+40+4 || frame[12] != 0x86 || frame[13] != 0xdd {
		return nil, false
	}
	if n := int(frame[18])<<8 | int(frame[19]); n < 4 || n > len(frame)-14-40 {
		return nil, false
	}
	return fixChecksum(bytes.Clone(frame)), true
}

func checkParse(t *testing.T, frame []byte) {
	t.Helper()
	p, err := Parse(frame)
	if err != nil {
		return
	}
	switch p.Kind {
	case ARPRequest, ARPReply:
		if !p.SenderIP.Is4() || !p.TargetIP.Is4() {
			t.Errorf("ARP with %s > %s", p.SenderIP, p.TargetIP)
		}
	case NeighborSolicitation, NeighborAdvertisement:
		if !p.SenderIP.Is6() || !p.TargetIP.Is6() {
			t.Errorf("neighbour discovery with %s > %s", p.SenderIP, p.TargetIP)
		}
	default:
		t.Errorf("kind %v", p.Kind)
	}
	if len(p.SrcHW) != 6 || len(p.DstHW) != 6 {
		t.Errorf("SrcHW %q, DstHW %q", p.SrcHW, p.DstHW)
	}
}

// FuzzConflict checks that Conflict never panics, never blames our own
// MAC, and only finds conflicts in frames Parse accepts.
func FuzzConflict(f *testing.F) {
	addFixtures(f, func(b []byte) {
		for _, ip := range []netip.Addr{ip4B, ip6B, ip6DAD} {
			f.Add(b, ip.AsSlice(), []byte(hwA))
		}
	})
	f.Fuzz(func(t *testing.T, frame, ipb, ours []byte) {
		ip, _ := netip.AddrFromSlice(ipb)
		checkConflict(t, frame, ip, ours)
		if b, ok := repairChecksum(frame); ok {
			checkConflict(t, b, ip, ours)
		}
	})
}

func checkConflict(t *testing.T, frame []byte, ip netip.Addr, ours []byte) {
	t.Helper()
	holder, ok := Conflict(frame, ip, ours)
	if !ok {
		if holder != nil {
			t.Errorf("no conflict, yet holder %s", holder)
		}
		return
	}
	if bytes.Equal(holder, ours) {
		t.Errorf("conflict with ourselves (%s)", holder)
	}
	if _, err := Parse(frame); err != nil {
		t.Errorf("conflict in a frame Parse rejects: %v", err)
	}
}
