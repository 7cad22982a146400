package vnfc

import (
	"fmt"
	"strings"
)

// unitSuffixes are the unit types the systemd backend can start.
var unitSuffixes = []string{".service", ".scope", ".target", ".socket"}

// checkUnitName accepts what systemd accepts as a unit name (the characters
// of unit_name_is_valid in systemd's basic/unit-name.c: ASCII letters,
// digits and ":-_.\@", at most 255 bytes), with a suffix the backend starts.
func checkUnitName(s string) error {
	if len(s) > 255 {
		return fmt.Errorf("unit name %.40q... is longer than 255 bytes", s)
	}
	suffix := ""
	for _, suf := range unitSuffixes {
		if strings.HasSuffix(s, suf) && len(s) > len(suf) {
			suffix = suf
		}
	}
	if suffix == "" {
		return fmt.Errorf("unit %q: want a name ending in one of %s", s, strings.Join(unitSuffixes, " "))
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte(":-_.\\@", c) >= 0) {
			return fmt.Errorf("unit %q: character %q is not allowed in a unit name", s, c)
		}
	}
	return nil
}
