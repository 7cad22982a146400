package haproxy

import (
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// OpState is srv_op_state of `show servers state` (enum srv_state).
type OpState int

// Operational states.
const (
	OpStopped  OpState = 0 // down
	OpStarting OpState = 1
	OpRunning  OpState = 2
	OpStopping OpState = 3
)

// AdminState is the srv_admin_state mask of `show servers state`.
type AdminState uint

// Admin flags (enum srv_admin). CMaint alone is not "in maintenance": a
// server-template slot declared disabled keeps 0x04 after it was made
// ready (research A.2).
const (
	AdminForcedMaint    AdminState = 0x01 // set by the CLI or `disable server`
	AdminInheritedMaint AdminState = 0x02 // through track
	AdminConfigMaint    AdminState = 0x04 // `disabled` in the configuration
	AdminForcedDrain    AdminState = 0x08
	AdminInheritedDrain AdminState = 0x10
	AdminResolvMaint    AdminState = 0x20
	AdminHealthMaint    AdminState = 0x40
)

// CheckState is the srv_check_state mask of `show servers state`.
type CheckState uint

// Check state flags: a dynamic server added with `check` is Configured
// but not Enabled until `enable health` (research A.4 point 2).
const (
	CheckInProgress CheckState = 0x01
	CheckConfigured CheckState = 0x02
	CheckEnabled    CheckState = 0x04
	CheckPaused     CheckState = 0x08
	CheckAgent      CheckState = 0x10
)

// ServerState is one row of `show servers state` (format 1).
type ServerState struct {
	BackendID   int
	Backend     string
	ID          int // auto-assigned for dynamic servers; changes across reloads
	Name        string
	Addr        netip.Addr // invalid when HAProxy has none ("-")
	Port        uint16
	OpState     OpState
	Admin       AdminState
	UWeight     int // user weight, what `weight` and `set server weight` set
	IWeight     int // initial weight from the configuration
	SinceChange int // srv_time_since_last_change, seconds
	CheckStatus int // numeric enum healthcheck_status
	CheckResult int
	CheckHealth int
	Check       CheckState
	FQDN        string // "" when none
}

// ErrFormat is returned for output that does not have the expected shape.
var ErrFormat = errors.New("unexpected output format")

// ParseServersState parses the reply of `show servers state [<be>]`.
// Columns are found by the header's names, so a later HAProxy that adds
// columns still parses.
func ParseServersState(reply string) ([]ServerState, error) {
	if err := readError(reply); err != nil {
		return nil, err
	}
	if err := complete("show servers state", reply); err != nil {
		return nil, err
	}
	lines := strings.Split(reply, "\n")
	if len(lines) < 2 || strings.TrimSpace(lines[0]) != "1" {
		return nil, fmt.Errorf("show servers state: %w: want version line \"1\"", ErrFormat)
	}
	if !strings.HasPrefix(lines[1], "# ") {
		return nil, fmt.Errorf("show servers state: %w: no header line", ErrFormat)
	}
	header := strings.Fields(strings.TrimPrefix(lines[1], "# "))
	col := make(map[string]int, len(header))
	for i, name := range header {
		// A column named twice is ambiguous, and rows are checked
		// against the header's length, not the number of names.
		if _, dup := col[name]; dup {
			return nil, fmt.Errorf("show servers state: %w: header names %s twice", ErrFormat, name)
		}
		col[name] = i
	}
	for _, name := range []string{"be_name", "srv_name", "srv_addr", "srv_op_state", "srv_admin_state", "srv_uweight", "srv_check_state", "srv_port"} {
		if _, ok := col[name]; !ok {
			return nil, fmt.Errorf("show servers state: %w: header lacks %s", ErrFormat, name)
		}
	}
	out := make([]ServerState, 0, len(lines)-2)
	var f []string
	for n, line := range lines[2:] {
		if strings.TrimSpace(line) == "" {
			continue
		}
		f = fields(f[:0], line)
		s, err := parseStateRow(f, col, len(header))
		if err != nil {
			return nil, fmt.Errorf("show servers state: line %d: %w", n+3, err)
		}
		out = append(out, s)
	}
	if len(out) == 0 {
		return nil, nil // as before the capacity was reserved
	}
	return out, nil
}

// fields is strings.Fields appending to dst, so that the thousands of
// rows of a batched read reuse one slice (BenchmarkParseStat). Rows are
// ASCII; a line that is not goes to strings.Fields, whose idea of a space
// is Unicode's.
func fields(dst []string, line string) []string {
	start := -1
	for i := 0; i < len(line); i++ {
		c := line[i]
		if c >= 0x80 {
			return append(dst[:0], strings.Fields(line)...)
		}
		if c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' {
			if start >= 0 {
				dst = append(dst, line[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, line[start:])
	}
	return dst
}

func parseStateRow(f []string, col map[string]int, ncol int) (ServerState, error) {
	if len(f) != ncol {
		return ServerState{}, fmt.Errorf("%w: %d fields, header has %d", ErrFormat, len(f), ncol)
	}
	var s ServerState
	var errs []error
	num := func(name string) int {
		i, ok := col[name]
		if !ok {
			return 0
		}
		v, err := strconv.Atoi(f[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
		}
		return v
	}
	s.Backend = f[col["be_name"]]
	s.Name = f[col["srv_name"]]
	s.BackendID = num("be_id")
	s.ID = num("srv_id")
	s.OpState = OpState(num("srv_op_state"))
	s.Admin = AdminState(num("srv_admin_state"))
	s.UWeight = num("srv_uweight")
	s.IWeight = num("srv_iweight")
	s.SinceChange = num("srv_time_since_last_change")
	s.CheckStatus = num("srv_check_status")
	s.CheckResult = num("srv_check_result")
	s.CheckHealth = num("srv_check_health")
	s.Check = CheckState(num("srv_check_state"))
	port := num("srv_port")
	if port < 0 || port > 65535 {
		errs = append(errs, fmt.Errorf("srv_port %d out of range", port))
	}
	s.Port = uint16(port)
	if a := f[col["srv_addr"]]; a != "-" {
		addr, err := netip.ParseAddr(a)
		if err != nil {
			errs = append(errs, fmt.Errorf("srv_addr: %w", err))
		}
		s.Addr = addr
	}
	if i, ok := col["srv_fqdn"]; ok && f[i] != "-" {
		s.FQDN = f[i]
	}
	if err := errors.Join(errs...); err != nil {
		return ServerState{}, fmt.Errorf("%w: %w", ErrFormat, err)
	}
	return s, nil
}

// Maint reports whether the server is in maintenance for any reason that
// keeps it out of traffic (forced, inherited, resolution, health). The
// configuration flag is left out on purpose (see AdminConfigMaint).
func (s ServerState) Maint() bool {
	return s.Admin&(AdminForcedMaint|AdminInheritedMaint|AdminResolvMaint|AdminHealthMaint) != 0
}

// Drain reports whether the server is draining (forced or inherited).
func (s ServerState) Drain() bool { return s.Admin&(AdminForcedDrain|AdminInheritedDrain) != 0 }

// HealthEnabled reports whether health checks run on the server.
func (s ServerState) HealthEnabled() bool { return s.Check&CheckEnabled != 0 }
