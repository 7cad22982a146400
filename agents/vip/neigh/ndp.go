package neigh

// Neighbour solicitations and advertisements, encoded and decoded by hand:
// only the two messages this package sends and reads (RFC 4861 sections 4.3
// and 4.4), their link-layer address options (RFC 4861 section 4.6.1, RFC
// 2464 section 8) and the ICMPv6 checksum (RFC 4443 section 2.3). A library
// for the whole of neighbour discovery, with its router advertisement
// options (DNS search lists, captive portal URLs, nonces), linked
// crypto/rand, math/big, net/url, IDNA and x/net/ipv6 into the agent, which
// Pacemaker execs on every monitor: 22 more package inits, more binary and
// more page faults each time (README.md has the figures).

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/netip"
)

// ICMPv6 types of the neighbour discovery messages the package speaks
// (RFC 4861 sections 4.3 and 4.4).
const (
	icmpTypeNeighborSolicitation  = 135
	icmpTypeNeighborAdvertisement = 136
)

// ndMessageLen is the fixed part of a solicitation and of an advertisement,
// which share a layout (RFC 4861 sections 4.3 and 4.4):
//
//	0      type
//	1      code, 0
//	2..3   checksum
//	4..7   flags (advertisement only) and reserved, zero when sent
//	8..23  target address
//	24..   options
const ndMessageLen = 24

// The advertisement's flags, in its byte 4 (RFC 4861 section 4.4).
const (
	naFlagRouter    = 0x80
	naFlagSolicited = 0x40
	naFlagOverride  = 0x20
)

// Option types (RFC 4861 section 4.6) that the package reads.
const (
	optSourceLinkLayer = 1
	optTargetLinkLayer = 2
)

// optUnit is the unit of an option's length field (RFC 4861 section 4.6).
const optUnit = 8

// llaOptionUnits is the length of a link-layer address option over
// Ethernet: type, length and a 6-byte MAC address fill one unit (RFC 2464
// section 8).
const llaOptionUnits = 1

// ndMessage is a neighbour solicitation or advertisement.
type ndMessage struct {
	// typ is icmpTypeNeighborSolicitation or icmpTypeNeighborAdvertisement.
	typ uint8
	// router, solicited and override are an advertisement's flags; a
	// solicitation has none.
	router, solicited, override bool
	target                      netip.Addr
	// sourceLL and targetLL are the addresses of the first source and the
	// first target link-layer address options, or nil.
	sourceLL, targetLL net.HardwareAddr
}

// marshal encodes m as an ICMPv6 message sent from src to dst, checksum
// included, options in the order source, target.
func (m *ndMessage) marshal(src, dst netip.Addr) ([]byte, error) {
	if m.typ != icmpTypeNeighborSolicitation && m.typ != icmpTypeNeighborAdvertisement {
		return nil, fmt.Errorf("ICMPv6 type %d is not neighbour discovery", m.typ)
	}
	if !m.target.Is6() || m.target.Is4In6() || m.target.Zone() != "" {
		return nil, fmt.Errorf("neighbour discovery target %s is not an IPv6 address", m.target)
	}
	b := make([]byte, ndMessageLen, ndMessageLen+2*llaOptionUnits*optUnit)
	b[0] = m.typ
	if m.typ == icmpTypeNeighborAdvertisement {
		b[4] = flagIf(m.router, naFlagRouter) | flagIf(m.solicited, naFlagSolicited) | flagIf(m.override, naFlagOverride)
	}
	t := m.target.As16()
	copy(b[8:24], t[:])
	for _, o := range [...]struct {
		typ uint8
		hw  net.HardwareAddr
	}{{optSourceLinkLayer, m.sourceLL}, {optTargetLinkLayer, m.targetLL}} {
		if o.hw == nil {
			continue
		}
		if len(o.hw) != 6 {
			return nil, fmt.Errorf("link-layer address %q is not an Ethernet MAC address", o.hw)
		}
		b = append(b, o.typ, llaOptionUnits)
		b = append(b, o.hw...)
	}
	binary.BigEndian.PutUint16(b[2:4], icmpv6Checksum(src, dst, b))
	return b, nil
}

func flagIf(set bool, bit byte) byte {
	if set {
		return bit
	}
	return 0
}

// parseND decodes a neighbour solicitation or advertisement, a whole
// ICMPv6 message. It checks neither the code nor the checksum, which the
// caller checks against the IPv6 header. Beyond the rules of RFC 4861
// section 7.1, it rejects what no sender on Ethernet produces: a target
// that is an IPv4-mapped address and a link-layer address option that is
// not one unit long.
func parseND(b []byte) (ndMessage, error) {
	if len(b) < ndMessageLen {
		return ndMessage{}, fmt.Errorf("neighbour discovery message of %d bytes, want at least %d", len(b), ndMessageLen)
	}
	m := ndMessage{typ: b[0], target: netip.AddrFrom16([16]byte(b[8:24]))}
	switch m.typ {
	case icmpTypeNeighborSolicitation:
	case icmpTypeNeighborAdvertisement:
		// Receivers ignore the reserved bits (RFC 4861 section 4.4).
		m.router = b[4]&naFlagRouter != 0
		m.solicited = b[4]&naFlagSolicited != 0
		m.override = b[4]&naFlagOverride != 0
	default:
		return ndMessage{}, fmt.Errorf("ICMPv6 type %d: %w", m.typ, errNotNeighbour)
	}
	if m.target.Is4In6() {
		return ndMessage{}, fmt.Errorf("neighbour discovery for IPv4-mapped target %s", m.target)
	}
	// Options are type-length-value, the length in units of 8 bytes
	// counting type and length (RFC 4861 section 4.6). A length of zero is
	// invalid and an option must not run past the message (section 7.1);
	// options not recognised are skipped (sections 4.3 and 4.4).
	for opts := b[ndMessageLen:]; len(opts) > 0; {
		if len(opts) < 2 {
			return ndMessage{}, errors.New("truncated neighbour discovery option")
		}
		typ, units := opts[0], int(opts[1])
		n := units * optUnit
		switch {
		case n == 0:
			return ndMessage{}, fmt.Errorf("neighbour discovery option %d with length 0", typ)
		case n > len(opts):
			return ndMessage{}, fmt.Errorf("neighbour discovery option %d of %d bytes, only %d left", typ, n, len(opts))
		}
		if typ == optSourceLinkLayer || typ == optTargetLinkLayer {
			if units != llaOptionUnits {
				return ndMessage{}, fmt.Errorf("link-layer address option of length %d, want %d for Ethernet", units, llaOptionUnits)
			}
			// The first of each kind counts, as in Linux. A copy, so that
			// the address outlives the caller's buffer.
			hw := net.HardwareAddr(bytes.Clone(opts[2:8]))
			if typ == optSourceLinkLayer && m.sourceLL == nil {
				m.sourceLL = hw
			} else if typ == optTargetLinkLayer && m.targetLL == nil {
				m.targetLL = hw
			}
		}
		opts = opts[n:]
	}
	return m, nil
}

// icmpv6Checksum returns the checksum of msg sent from src to dst: the
// ones' complement of the ones' complement sum of the IPv6 pseudo-header
// and the message (RFC 4443 section 2.3). The pseudo-header (RFC 8200
// section 8.1) is the source and destination addresses, the message length
// as 32 bits, three zero bytes and the next header, 58. The checksum field
// of msg must be zero when the checksum is computed for sending.
func icmpv6Checksum(src, dst netip.Addr, msg []byte) uint16 {
	return ^fold(pseudoHeaderSum(src, dst, len(msg)) + onesSum(msg))
}

// checksumOK verifies the ICMPv6 checksum of msg sent from src to dst:
// summed with the checksum in place, pseudo-header and message give all
// ones (RFC 1071 section 1, step 3).
func checksumOK(src, dst netip.Addr, msg []byte) bool {
	return fold(pseudoHeaderSum(src, dst, len(msg))+onesSum(msg)) == 0xffff
}

// pseudoHeaderSum returns the unfolded sum of the IPv6 pseudo-header for
// an ICMPv6 message of n bytes (RFC 8200 section 8.1).
func pseudoHeaderSum(src, dst netip.Addr, n int) uint64 {
	s, d := src.As16(), dst.As16()
	return onesSum(s[:]) + onesSum(d[:]) + uint64(n)>>16 + uint64(n)&0xffff + protoICMPv6
}

// onesSum adds b as big-endian 16-bit words, an odd last byte padded with
// a zero byte (RFC 1071 section 4.1). The carries stay in the upper bits
// until fold.
func onesSum(b []byte) uint64 {
	var sum uint64
	for len(b) >= 2 {
		sum += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		sum += uint64(b[0]) << 8
	}
	return sum
}

// fold adds the carries of sum back into its low 16 bits: the ones'
// complement sum.
func fold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
