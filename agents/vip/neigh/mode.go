package neigh

import (
	"fmt"
	"strings"
)

// Mode says which gratuitous ARP packets announce an IPv4 address. Hosts
// differ in which they heed: RFC 5227 recommends requests, some older
// stacks update their caches only from replies, so both is the default.
type Mode int

// The announcement modes.
const (
	// ModeBoth sends a gratuitous ARP request and a gratuitous ARP reply.
	ModeBoth Mode = iota
	// ModeRequest sends a gratuitous ARP request only.
	ModeRequest
	// ModeReply sends a gratuitous ARP reply only.
	ModeReply
)

var modeNames = [...]string{ModeBoth: "both", ModeRequest: "request", ModeReply: "reply"}

// ParseMode parses the name of a Mode: "both", "request" or "reply".
func ParseMode(s string) (Mode, error) {
	for m, name := range modeNames {
		if s == name {
			return Mode(m), nil
		}
	}
	return 0, fmt.Errorf("unknown ARP announcement mode %q: want one of %s", s, strings.Join(modeNames[:], ", "))
}

// String returns the name ParseMode accepts.
func (m Mode) String() string {
	if m < 0 || int(m) >= len(modeNames) {
		return fmt.Sprintf("Mode(%d)", int(m))
	}
	return modeNames[m]
}
