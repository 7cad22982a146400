package webhook

import (
	"fmt"
	"strings"

	"github.com/vnfha/vnfha/bridge/delivery"
)

// knownTypes are the bridge's event types. A filter entry that selects
// none of them is a typo, refused by New rather than found out when the
// first expected event does not arrive.
var knownTypes = delivery.Types

// filter is a parsed Config.Types: exact types and prefixes. The zero
// filter (all == false, both empty) is built only for an empty Types,
// where all is set.
type filter struct {
	all      bool
	exact    map[string]bool
	prefixes []string // "vnfc." for "vnfc.*"
}

// parseFilter parses Config.Types; its errors name the entry.
func parseFilter(types []string) (filter, error) {
	f := filter{exact: map[string]bool{}}
	if len(types) == 0 {
		f.all = true
		return f, nil
	}
	for i, t := range types {
		if t == "*" {
			f.all = true
			continue
		}
		name, isPrefix := strings.CutSuffix(t, "*")
		if isPrefix && !strings.HasSuffix(name, ".") {
			return filter{}, fmt.Errorf("types[%d] %q: a prefix ends in \".*\", as in \"vnfc.*\"", i, t)
		}
		if err := checkTypeName(strings.TrimSuffix(name, ".")); err != nil {
			return filter{}, fmt.Errorf("types[%d] %q: %w", i, t, err)
		}
		matched := false
		for _, k := range knownTypes {
			if k == name || isPrefix && strings.HasPrefix(k, name) {
				matched = true
			}
		}
		if !matched {
			return filter{}, fmt.Errorf("types[%d] %q selects no event type (the types are %s)", i, t, strings.Join(knownTypes, ", "))
		}
		if isPrefix {
			f.prefixes = append(f.prefixes, name)
		} else {
			f.exact[name] = true
		}
	}
	return f, nil
}

// checkTypeName accepts the bridge's type names: dot-separated words of
// lower-case letters, digits and '_'. The CloudEvent form (with the
// reverse-DNS prefix) is refused with a hint, as it would never match.
func checkTypeName(s string) error {
	if s == "" {
		return fmt.Errorf("empty type")
	}
	if strings.HasPrefix(s, "io.") || strings.HasPrefix(s, "com.") || strings.HasPrefix(s, "org.") {
		return fmt.Errorf("give the bridge's type (\"vnfc.failed\"), without the CloudEvent type's prefix")
	}
	for _, w := range strings.Split(s, ".") {
		if w == "" {
			return fmt.Errorf("empty word between dots")
		}
		for _, r := range w {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') {
				return fmt.Errorf("%q is not a lower-case letter, digit or '_'", r)
			}
		}
	}
	return nil
}

func (f filter) match(typ string) bool {
	if f.all || f.exact[typ] {
		return true
	}
	for _, p := range f.prefixes {
		if strings.HasPrefix(typ, p) {
			return true
		}
	}
	return false
}
