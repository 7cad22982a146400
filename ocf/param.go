package ocf

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParamType is the type of a parameter's value. Only the types that both
// ocf-tester's ra-api-1.dtd and pcs's OCF RelaxNG schemas accept are offered:
// "select" and "percentage" are rejected by the DTD.
type ParamType string

// The parameter types an agent can declare.
const (
	String  ParamType = "string"
	Integer ParamType = "integer"
	Boolean ParamType = "boolean"
	// Time is a Pacemaker interval such as "10s", "500ms" or "2min"; a bare
	// number is seconds, as in the CIB.
	Time ParamType = "time"
)

// Param declares one instance attribute of an agent. Pacemaker passes it to
// the agent as the environment variable OCF_RESKEY_<Name>.
type Param struct {
	Name      string
	Type      ParamType
	Default   string // as the administrator would write it; "" for none
	Required  bool
	Unique    bool // no two resources of this agent may share the value
	ShortDesc string
	LongDesc  string
	// Reloadable says a change of the value is applied by the agent's Reload
	// handler instead of a restart. See (*Agent).MetaData for how Pacemaker
	// 2.1.5 learns this.
	Reloadable bool
}

// ErrParamSyntax is wrapped by every error of ParseValue.
var ErrParamSyntax = errors.New("invalid value")

// ParseValue converts the text of a parameter to the Go value of type t:
// string, int64, bool or time.Duration. It never panics.
func ParseValue(t ParamType, s string) (any, error) {
	switch t {
	case String:
		return s, nil
	case Integer:
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w for integer: %s", ErrParamSyntax, Quote(s))
		}
		return n, nil
	case Boolean:
		b, ok := parseBool(s)
		if !ok {
			return nil, fmt.Errorf("%w for boolean: %s", ErrParamSyntax, Quote(s))
		}
		return b, nil
	case Time:
		d, err := ParseInterval(s)
		if err != nil {
			return nil, err
		}
		return d, nil
	}
	return nil, fmt.Errorf("unknown parameter type %q", t)
}

// parseBool accepts the spellings Pacemaker accepts for a boolean.
func parseBool(s string) (bool, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "y", "on":
		return true, true
	case "0", "false", "no", "n", "off":
		return false, true
	}
	return false, false
}

var intervalUnits = map[string]time.Duration{
	"": time.Second, "s": time.Second, "sec": time.Second,
	"ms": time.Millisecond, "msec": time.Millisecond,
	"us": time.Microsecond, "usec": time.Microsecond,
	"m": time.Minute, "min": time.Minute,
	"h": time.Hour, "hr": time.Hour,
}

// ParseInterval parses a Pacemaker interval specification ("10", "10s",
// "500ms", "2min", "1h"). A bare number is seconds. ISO 8601 durations are
// not accepted, because no vnfha agent needs them. It never panics.
func ParseInterval(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	i := 0
	for i < len(t) && t[i] >= '0' && t[i] <= '9' {
		i++
	}
	if i == 0 {
		return 0, fmt.Errorf("%w for time: %s", ErrParamSyntax, Quote(s))
	}
	n, err := strconv.ParseInt(t[:i], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w for time: %s", ErrParamSyntax, Quote(s))
	}
	unit, ok := intervalUnits[strings.ToLower(strings.TrimSpace(t[i:]))]
	if !ok {
		return 0, fmt.Errorf("%w for time: unknown unit in %s", ErrParamSyntax, Quote(s))
	}
	if n > int64(1<<63-1)/int64(unit) {
		return 0, fmt.Errorf("%w for time: %s overflows", ErrParamSyntax, Quote(s))
	}
	return time.Duration(n) * unit, nil
}

// Params holds the values of an agent's declared parameters for one
// invocation, already parsed to their declared types. A parameter that was
// neither set nor defaulted reads as the zero value, and Set reports whether
// it was given.
type Params struct {
	values map[string]any
	set    map[string]bool
	types  map[string]ParamType
}

// Set reports whether the parameter was given by Pacemaker (not defaulted).
func (p Params) Set(name string) bool { return p.set[name] }

// String returns a string parameter's value.
func (p Params) String(name string) string {
	p.mustBe(name, String)
	s, _ := p.values[name].(string)
	return s
}

// Int returns an integer parameter's value.
func (p Params) Int(name string) int64 {
	p.mustBe(name, Integer)
	n, _ := p.values[name].(int64)
	return n
}

// Bool returns a boolean parameter's value.
func (p Params) Bool(name string) bool {
	p.mustBe(name, Boolean)
	b, _ := p.values[name].(bool)
	return b
}

// Duration returns a time parameter's value.
func (p Params) Duration(name string) time.Duration {
	p.mustBe(name, Time)
	d, _ := p.values[name].(time.Duration)
	return d
}

// mustBe panics on reading an undeclared parameter or reading it as the wrong
// type: that is a bug in the agent, found by its first test, not a runtime
// condition.
func (p Params) mustBe(name string, t ParamType) {
	if got, ok := p.types[name]; !ok || got != t {
		panic(fmt.Sprintf("ocf: parameter %q read as %s but declared as %q", name, t, got))
	}
}

// parseParams reads every declared parameter from the environment. It always
// returns usable Params: a value that is missing or invalid is replaced by
// its declared default (or the zero value), and the problems are returned
// joined in the error, so that actions that must not fail on a bad
// configuration (stop, monitor) can still run.
func parseParams(decl []Param, lookup LookupFunc) (Params, error) {
	p := Params{
		values: make(map[string]any, len(decl)),
		set:    make(map[string]bool, len(decl)),
		types:  make(map[string]ParamType, len(decl)),
	}
	var errs []error
	for _, d := range decl {
		p.types[d.Name] = d.Type
		raw, ok := lookup("OCF_RESKEY_" + d.Name)
		// An empty value is how a CIB attribute with value="" arrives; for a
		// required parameter that is as good as missing.
		if ok && d.Required && raw == "" {
			ok = false
		}
		if ok {
			v, err := ParseValue(d.Type, raw)
			if err == nil {
				p.values[d.Name] = v
				p.set[d.Name] = true
				continue
			}
			errs = append(errs, fmt.Errorf("read OCF_RESKEY_%s: %w", d.Name, err))
		} else if d.Required {
			errs = append(errs, fmt.Errorf("required parameter %s is not set", d.Name))
		}
		p.values[d.Name] = zeroOf(d.Type)
		if d.Default != "" {
			// Defaults are checked by New, so this cannot fail.
			if v, err := ParseValue(d.Type, d.Default); err == nil {
				p.values[d.Name] = v
			}
		}
	}
	return p, errors.Join(errs...)
}

func zeroOf(t ParamType) any {
	switch t {
	case Integer:
		return int64(0)
	case Boolean:
		return false
	case Time:
		return time.Duration(0)
	}
	return ""
}

// ParseParams reads the agent's parameters from OCF_RESKEY_* variables as
// an action would, for tests of an agent's own configuration parsing.
func (a *Agent) ParseParams(lookup LookupFunc) (Params, error) {
	return parseParams(a.Params, lookup)
}

// MaxNameLen is the longest file name Linux accepts (NAME_MAX).
const MaxNameLen = 255

// CheckName returns an error unless name can be joined onto a directory as
// a single file name that stays inside it (principle 6 of
// docs/agents/README.md): it refuses "", "." and "..", any "/", NUL or
// other control character, and more than MaxNameLen bytes. Agents check
// every name they join onto a directory, such as an instance name under
// HA_RSCTMP or a namespace name under /run/netns. Clone instance names
// ("vnfc:1") pass. The error does not repeat the name; the caller says
// which parameter it was, with Quote.
func CheckName(name string) error {
	switch {
	case name == "":
		return errors.New("is empty")
	case name == "." || name == "..":
		return errors.New("is a relative directory, not a name")
	case len(name) > MaxNameLen:
		return fmt.Errorf("is longer than %d bytes", MaxNameLen)
	case strings.Contains(name, "/"):
		return errors.New(`holds "/"`)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return errors.New("holds a control character")
		}
	}
	return nil
}
