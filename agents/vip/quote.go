package vip

import (
	"fmt"
	"strconv"
	"unicode/utf8"
)

// maxQuoted bounds what quoted gives back of a value, quotes and escapes
// included, so that a parameter of any size fits in an exit reason, which
// Pacemaker cuts at 128 characters and stores in the CIB.
const maxQuoted = 32

// quoted returns s as a Go-quoted string for an exit reason or a log line:
// control characters and invalid UTF-8 escaped, so it is one line, and cut
// on a rune boundary to at most maxQuoted characters with the full length
// said after it when cut.
func quoted(s string) string {
	q := strconv.Quote(s)
	if len(q) <= maxQuoted {
		return q
	}
	// Shorten until the quoted prefix fits; escapes make a byte up to
	// four characters, so the prefix may end up well under maxQuoted bytes.
	q = `""`
	for n := min(len(s)-1, maxQuoted); n > 0; n-- {
		if !utf8.RuneStart(s[n]) {
			continue
		}
		if p := strconv.Quote(s[:n]); len(p) <= maxQuoted {
			q = p
			break
		}
	}
	return fmt.Sprintf("%s... (%d bytes)", q, len(s))
}
