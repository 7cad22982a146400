package haproxy

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// nameSep joins the parts of a server name. ':' is valid in HAProxy names
// but can appear in neither a Pacemaker id (an XML NCName) nor a host
// name, so in the usual case (resource, node) the name stays readable
// and unambiguous.
const nameSep = ":"

// maxNameLen keeps names short enough for logs and `show stat` columns;
// longer ones are cut and made unique with the hash.
const maxNameLen = 96

// ServerName makes a valid, stable HAProxy server name from parts (for
// example a prefix, a resource and a node): the parts joined with ':'.
// Characters HAProxy refuses become '_', and whenever the result is not
// the plain join of the parts (a character was replaced, a part was empty
// or contained ':', the name was too long), a short hash of the original
// parts is appended, so two different inputs never share a name by
// sanitizing. The same parts always give the same name.
func ServerName(parts ...string) string {
	var b strings.Builder
	changed := len(parts) == 0
	for i, p := range parts {
		if i > 0 {
			b.WriteString(nameSep)
		}
		if p == "" {
			changed = true
			b.WriteByte('_')
			continue
		}
		for j := 0; j < len(p); j++ {
			c := p[j]
			switch {
			case c == nameSep[0]:
				changed = true
				b.WriteByte('_')
			case nameChar(c):
				b.WriteByte(c)
			default:
				changed = true
				b.WriteByte('_')
			}
		}
	}
	name := b.String()
	if len(name) > maxNameLen {
		changed = true
	}
	if !changed {
		return name
	}
	if len(name) > maxNameLen-11 { // room for "-" and the hash
		name = name[:maxNameLen-11]
	}
	h := sha256.New()
	for _, p := range parts {
		// Length-prefixed, so ("a","bc") and ("ab","c") hash apart.
		h.Write([]byte{byte(len(p) >> 24), byte(len(p) >> 16), byte(len(p) >> 8), byte(len(p))})
		h.Write([]byte(p))
	}
	return name + "-" + hex.EncodeToString(h.Sum(nil))[:10]
}
