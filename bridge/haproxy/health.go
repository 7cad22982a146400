package haproxy

import "strings"

// Health states of a server, as the bridge publishes them in events.
const (
	HealthUp      = "UP"      // in rotation (or would be): UP, "UP 1/2", "no check"
	HealthDown    = "DOWN"    // failing its checks (also when drained or rising)
	HealthMaint   = "MAINT"   // out, by an admin (or the bridge), incl. "MAINT (via ...)"
	HealthDrain   = "DRAIN"   // checked UP but taking no new traffic (DRAIN, NOLB)
	HealthUnknown = "UNKNOWN" // a status this package does not know
)

// Health is the summary of one server's state for events: the state and
// HAProxy's own check result (the scheme's case 1, the LB's heartbeat).
type Health struct {
	State       string // one of the Health* constants
	Status      string // HAProxy's status text, e.g. "UP 1/2"
	CheckStatus string // e.g. L7OK, L4CON, INI; empty in maint
	CheckCode   int    // e.g. 200; 0 when none
}

// HealthOf maps a `show stat` status to a Health* constant.
func HealthOf(status string) string {
	word, _, _ := strings.Cut(status, " ")
	switch {
	case word == "UP" || status == "no check":
		return HealthUp
	case word == "DOWN":
		return HealthDown
	case word == "MAINT" || strings.HasPrefix(status, "MAINT("):
		return HealthMaint
	case word == "DRAIN" || word == "NOLB":
		return HealthDrain
	}
	return HealthUnknown
}

// Health summarizes s. When `show stat` had no row for the server (it
// changed between the two reads), the state comes from the admin flags.
func (s ServerStatus) Health() Health {
	h := Health{State: HealthOf(s.Status), Status: s.Status, CheckStatus: s.CheckStatus, CheckCode: s.CheckCode}
	if s.Status == "" {
		switch {
		case s.Admin&(AdminForcedMaint|AdminInheritedMaint|AdminResolvMaint|AdminHealthMaint) != 0:
			h.State = HealthMaint
		case s.Admin&(AdminForcedDrain|AdminInheritedDrain) != 0:
			h.State = HealthDrain
		case s.OpState == OpStopped:
			h.State = HealthDown
		}
	}
	return h
}
