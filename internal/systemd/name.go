package systemd

import (
	"fmt"
	"slices"
	"strings"

	"github.com/godbus/dbus/v5"
)

// unitTypes are the suffixes systemd knows (systemd.unit(5)).
var unitTypes = []string{
	"service", "socket", "target", "device", "mount", "automount",
	"swap", "timer", "path", "slice", "scope",
}

// maxUnitName is systemd's UNIT_NAME_MAX less its terminating NUL.
const maxUnitName = 255

// unitPathPrefix is where systemd puts unit objects on the bus.
const unitPathPrefix = "/org/freedesktop/systemd1/unit/"

// CheckName accepts the unit names systemd accepts for a unit that can be
// loaded: a plain name or a template's instance, never a template itself
// (foo@.service), which cannot be started or queried. It refuses early what
// systemd would refuse, with a clearer error, and keeps names that are not
// units (paths, option-like strings) from ever reaching the bus.
func CheckName(name string) error {
	if name == "" {
		return fmt.Errorf("empty unit name")
	}
	if len(name) > maxUnitName {
		return fmt.Errorf("unit name %.40q... is longer than %d bytes", name, maxUnitName)
	}
	dot := strings.LastIndexByte(name, '.')
	if dot <= 0 {
		return fmt.Errorf("unit name %q has no type suffix (.service, .target, ...)", name)
	}
	if typ := name[dot+1:]; !slices.Contains(unitTypes, typ) {
		return fmt.Errorf("unit name %q has an unknown type %q", name, typ)
	}
	prefix := name[:dot]
	at := strings.IndexByte(prefix, '@')
	if at == 0 {
		return fmt.Errorf("unit name %q starts with @", name)
	}
	for i := 0; i < len(prefix); i++ {
		if c := prefix[i]; !validNameChar(c) && c != '@' {
			return fmt.Errorf("unit name %q has an invalid character %q", name, c)
		}
	}
	if at > 0 && at == len(prefix)-1 {
		return fmt.Errorf("unit name %q is a template; name an instance of it", name)
	}
	return nil
}

// CheckTransientName is CheckName for StartTransient, which makes services
// only.
func CheckTransientName(name string) error {
	if err := CheckName(name); err != nil {
		return err
	}
	if !strings.HasSuffix(name, ".service") {
		return fmt.Errorf("transient unit %q must be a .service", name)
	}
	return nil
}

// validNameChar reports the bytes systemd allows in a unit name besides the
// instance separator @ (VALID_CHARS in systemd's unit-name.c).
func validNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte(":-_.\\", c) >= 0
}

// unitPath is the object path of a unit, as systemd names it: asking for a
// unit at that path loads it, as LoadUnit does, without the extra round
// trip.
func unitPath(name string) dbus.ObjectPath {
	return dbus.ObjectPath(unitPathPrefix + escapeLabel(name))
}

// escapeLabel escapes a string into one element of an object path the way
// systemd does (bus_label_escape): letters stay, and digits stay unless
// first; every other byte becomes _ and two lower-case hex digits. The
// empty string becomes "_".
func escapeLabel(s string) string {
	if s == "" {
		return "_"
	}
	const hex = "0123456789abcdef"
	var b strings.Builder
	b.Grow(3 * len(s))
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('_')
		b.WriteByte(hex[c>>4])
		b.WriteByte(hex[c&0xf])
	}
	return b.String()
}
