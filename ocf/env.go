package ocf

import (
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LookupFunc reads one environment variable, like os.LookupEnv. It is
// injected so tests can describe an invocation without touching the process
// environment.
type LookupFunc func(key string) (string, bool)

// MapLookup returns a LookupFunc that reads from m.
func MapLookup(m map[string]string) LookupFunc {
	return func(k string) (string, bool) {
		v, ok := m[k]
		return v, ok
	}
}

// DefaultRscTmp is HA_RSCTMP when Pacemaker does not set it: the directory
// resource-agents uses for state that must vanish at reboot.
const DefaultRscTmp = "/run/resource-agents"

// Role is a resource role as Pacemaker names it in OCF_RESKEY_CRM_meta_role.
type Role string

// The roles an action can be declared for or called with. The deprecated
// names Master and Slave are mapped to Promoted and Unpromoted by ParseRole.
const (
	RoleNone       Role = ""
	RoleStarted    Role = "Started"
	RolePromoted   Role = "Promoted"
	RoleUnpromoted Role = "Unpromoted"
)

// ParseRole normalises a role name, accepting the names Pacemaker 2.1 still
// writes for old configurations ("Master", "Slave").
func ParseRole(s string) (Role, error) {
	switch strings.ToLower(s) {
	case "":
		return RoleNone, nil
	case "started":
		return RoleStarted, nil
	case "promoted", "master":
		return RolePromoted, nil
	case "unpromoted", "slave":
		return RoleUnpromoted, nil
	}
	return RoleNone, fmt.Errorf("unknown role %s", Quote(s))
}

// Env is what Pacemaker tells an agent about one invocation, beyond the
// agent's own parameters.
type Env struct {
	Instance string // OCF_RESOURCE_INSTANCE, e.g. "vip" or "vnfc:1"
	Type     string // OCF_RESOURCE_TYPE
	Provider string // OCF_RESOURCE_PROVIDER
	RscTmp   string // HA_RSCTMP, DefaultRscTmp if unset
	// Debug turns debug lines on: HA_debug set and not "0" (Pacemaker
	// sets it from PCMK_debug), or trace_ra true for this resource
	// (OCF_TRACE_RA or the trace_ra instance attribute, which turn on
	// resource-agents' shell tracing: debug lines are the Go equivalent).
	Debug      bool
	Interval   time.Duration // OCF_RESKEY_CRM_meta_interval; 0 for one-shot actions and probes
	Timeout    time.Duration // OCF_RESKEY_CRM_meta_timeout; 0 if not given
	OnNode     string        // OCF_RESKEY_CRM_meta_on_node
	OnNodeUUID string        // OCF_RESKEY_CRM_meta_on_node_uuid
	Role       Role          // OCF_RESKEY_CRM_meta_role, set for role-specific monitors
	CheckLevel int           // OCF_CHECK_LEVEL, the monitor depth
	Clone      *Clone        // nil unless the resource is a clone instance
	// FeatureSet is the DC's CRM feature set (OCF_RESKEY_crm_feature_set),
	// which Pacemaker passes with every action; "" when run by hand.
	FeatureSet string
	// Log is where Pacemaker logs info on this node, from HA_LOGFILE and
	// HA_LOGFACILITY; a helper carries it in its spec to log there too
	// (see NewHelperLogger).
	Log LogTarget
}

// Clone describes the clone a resource instance belongs to, from the
// OCF_RESKEY_CRM_meta_* variables that Pacemaker 2.1.5 adds for clones
// (pcmk_sched_clone.c, clone_append_meta).
type Clone struct {
	Instance       string // OCF_RESKEY_CRM_meta_clone, the instance number
	Max            int    // clone_max
	NodeMax        int    // clone_node_max
	GloballyUnique bool   // globally_unique
	Notify         bool   // notify: whether notify actions are sent
	Promotable     bool   // promotable=true, or promoted_max or master_max was given
	// PromotedMax and PromotedNodeMax come from promoted_max and
	// promoted_node_max; Pacemaker 2.1.5 also exports the deprecated
	// master_max and master_node_max with the same values, which are read
	// when the new names are absent (older Pacemaker).
	PromotedMax     int
	PromotedNodeMax int
}

const metaPrefix = "OCF_RESKEY_CRM_meta_"

// ParseEnv reads the invocation environment. A malformed value is an error
// (Pacemaker never sends one, so it means the agent is being run by hand
// with a typo); every field that could be read is still filled in.
func ParseEnv(lookup LookupFunc) (*Env, error) {
	get := func(k string) string { v, _ := lookup(k); return v }
	e := &Env{
		Instance:   get("OCF_RESOURCE_INSTANCE"),
		Type:       get("OCF_RESOURCE_TYPE"),
		Provider:   get("OCF_RESOURCE_PROVIDER"),
		RscTmp:     get("HA_RSCTMP"),
		OnNode:     get(metaPrefix + "on_node"),
		OnNodeUUID: get(metaPrefix + "on_node_uuid"),
		FeatureSet: get("OCF_RESKEY_crm_feature_set"),
	}
	if e.RscTmp == "" {
		e.RscTmp = DefaultRscTmp
	}
	if d, ok := lookup("HA_debug"); ok && d != "" && d != "0" {
		e.Debug = true
	}
	for _, name := range []string{"OCF_TRACE_RA", "OCF_RESKEY_trace_ra"} {
		if v, ok := lookup(name); ok {
			if on, valid := parseBool(v); valid && on {
				e.Debug = true
			}
		}
	}
	e.Log = parseLogTarget(lookup, e.Debug)
	var errs []error
	var err error
	if e.Interval, err = metaMillis(lookup, "interval"); err != nil {
		errs = append(errs, err)
	}
	if e.Timeout, err = metaMillis(lookup, "timeout"); err != nil {
		errs = append(errs, err)
	}
	if e.Role, err = ParseRole(get(metaPrefix + "role")); err != nil {
		errs = append(errs, fmt.Errorf("read %srole: %w", metaPrefix, err))
	}
	if s, ok := lookup("OCF_CHECK_LEVEL"); ok && s != "" {
		if e.CheckLevel, err = strconv.Atoi(s); err != nil {
			errs = append(errs, fmt.Errorf("read OCF_CHECK_LEVEL: %w", err))
		}
	}
	if e.Clone, err = parseClone(lookup); err != nil {
		errs = append(errs, err)
	}
	return e, errors.Join(errs...)
}

// parseLogTarget reads where Pacemaker's executor tells agents to log.
// pacemaker-execd 2.1.5 exports HA_LOGFILE (its PCMK_logfile, unless
// "none") and HA_LOGFACILITY (its PCMK_logfacility, unless "none" or
// /dev/null) for resource-agents' ha_log, and passes PCMK_logfile and
// PCMK_logfacility on from its own environment; the HA_ names win, the
// PCMK_ ones are read when an older or hand-made environment lacks them.
// "none" and /dev/null mean no destination, as they do for Pacemaker.
func parseLogTarget(lookup LookupFunc, debug bool) LogTarget {
	pick := func(names ...string) string {
		for _, n := range names {
			if v, ok := lookup(n); ok {
				v = strings.TrimSpace(v)
				if strings.EqualFold(v, "none") || v == "/dev/null" {
					return ""
				}
				return v
			}
		}
		return ""
	}
	t := LogTarget{
		File:     pick("HA_LOGFILE", "PCMK_logfile"),
		Facility: strings.ToLower(pick("HA_LOGFACILITY", "PCMK_logfacility")),
		Debug:    debug,
	}
	if _, ok := syslogFacilities[t.Facility]; !ok {
		t.Facility = ""
	}
	if !strings.HasPrefix(t.File, "/") {
		// A relative name would depend on the agent's working directory.
		t.File = ""
	}
	return t
}

// metaMillis reads a CRM_meta value that Pacemaker gives in milliseconds.
func metaMillis(lookup LookupFunc, name string) (time.Duration, error) {
	s, ok := lookup(metaPrefix + name)
	if !ok || s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > int64(1<<63-1)/int64(time.Millisecond) {
		return 0, fmt.Errorf("read %s%s: %w: %s is not milliseconds", metaPrefix, name, ErrParamSyntax, Quote(s))
	}
	return time.Duration(n) * time.Millisecond, nil
}

// parseClone returns nil, nil for a primitive: clone_max is what Pacemaker
// always sets for a clone instance.
func parseClone(lookup LookupFunc) (*Clone, error) {
	if _, ok := lookup(metaPrefix + "clone_max"); !ok {
		return nil, nil
	}
	c := &Clone{}
	c.Instance, _ = lookup(metaPrefix + "clone")
	var errs []error
	readInt := func(dst *int, names ...string) bool {
		for _, n := range names {
			s, ok := lookup(metaPrefix + n)
			if !ok || s == "" {
				continue
			}
			v, err := strconv.Atoi(strings.TrimSpace(s))
			if err != nil {
				errs = append(errs, fmt.Errorf("read %s%s: %w: %s", metaPrefix, n, ErrParamSyntax, Quote(s)))
				return false
			}
			*dst = v
			return true
		}
		return false
	}
	readBool := func(dst *bool, name string) {
		s, ok := lookup(metaPrefix + name)
		if !ok || s == "" {
			return
		}
		b, valid := parseBool(s)
		if !valid {
			errs = append(errs, fmt.Errorf("read %s%s: %w: %s", metaPrefix, name, ErrParamSyntax, Quote(s)))
			return
		}
		*dst = b
	}
	readInt(&c.Max, "clone_max")
	readInt(&c.NodeMax, "clone_node_max")
	readBool(&c.GloballyUnique, "globally_unique")
	readBool(&c.Notify, "notify")
	hasMax := readInt(&c.PromotedMax, "promoted_max", "master_max")
	hasNodeMax := readInt(&c.PromotedNodeMax, "promoted_node_max", "master_node_max")
	// The clone's own "promotable" meta-attribute is inherited by its
	// instances; promoted_max is what clone_append_meta adds for certain.
	readBool(&c.Promotable, "promotable")
	c.Promotable = c.Promotable || hasMax || hasNodeMax
	return c, errors.Join(errs...)
}

// StateDir is the state directory of the instance e runs for, below
// HA_RSCTMP/vnfha-<agent>, or an ERR_CONFIGURED error for an instance
// name that would not stay inside it (CheckName: "", "." and "..", a
// slash, a NUL or another control character, over 255 bytes), checked
// before any file is touched. Pacemaker's ids (XML ids, with ":N" for a
// clone instance) all pass.
func (e *Env) StateDir(agent string) (string, error) {
	if e.Instance == "" {
		return "", NotConfigured("OCF_RESOURCE_INSTANCE is not set; it names the state directory")
	}
	if err := CheckName(e.Instance); err != nil {
		return "", NotConfigured("the resource name %s %v: it names the state directory", Quote(e.Instance), err)
	}
	if !filepath.IsAbs(e.RscTmp) {
		return "", NotConfigured("HA_RSCTMP %s is not an absolute path", Quote(e.RscTmp))
	}
	return filepath.Join(e.RscTmp, "vnfha-"+agent, e.Instance), nil
}
