package cluster

import (
	"encoding/xml"
	"errors"
	"fmt"
	"strconv"
)

// Version is a CIB's version: the three counters on its root element. The
// CIB manager orders versions the same way (cib_compare_generation):
// admin_epoch first, then epoch (raised by every configuration change),
// then num_updates (raised by every status change, reset with the epoch).
type Version struct {
	AdminEpoch uint64
	Epoch      uint64
	NumUpdates uint64
}

// String is the version as Pacemaker's logs print it: admin_epoch.epoch.num_updates.
func (v Version) String() string {
	return fmt.Sprintf("%d.%d.%d", v.AdminEpoch, v.Epoch, v.NumUpdates)
}

// Compare returns -1, 0 or +1 as v is older than, the same as, or newer
// than w.
func (v Version) Compare(w Version) int {
	for _, p := range [][2]uint64{{v.AdminEpoch, w.AdminEpoch}, {v.Epoch, w.Epoch}, {v.NumUpdates, w.NumUpdates}} {
		switch {
		case p[0] < p[1]:
			return -1
		case p[0] > p[1]:
			return 1
		}
	}
	return 0
}

// errNoVersion is wrapped when an element lacks one of the counters.
var errNoVersion = errors.New("no CIB version")

// versionOf reads the three counters from the attributes of a <cib>
// element, a <generation_tuple>, or a diff's <source>/<target>. Each must
// be there and be a plain decimal number: a CIB without its version is not
// one the bridge may act on.
func versionOf(attrs []xml.Attr) (Version, error) {
	var v Version
	for _, f := range []struct {
		name string
		dst  *uint64
	}{{"admin_epoch", &v.AdminEpoch}, {"epoch", &v.Epoch}, {"num_updates", &v.NumUpdates}} {
		s, ok := attr(attrs, f.name)
		if !ok {
			return Version{}, fmt.Errorf("%w: %s missing", errNoVersion, f.name)
		}
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return Version{}, fmt.Errorf("%w: %s is %.24q, not a number", errNoVersion, f.name, s)
		}
		*f.dst = n
	}
	return v, nil
}

// attr is the value of the attribute name (without a namespace).
func attr(attrs []xml.Attr, name string) (string, bool) {
	for _, a := range attrs {
		if a.Name.Space == "" && a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}
