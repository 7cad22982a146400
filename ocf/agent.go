package ocf

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/sirupsen/logrus"
)

// HandlerFunc runs one action. Its error is the action's result; see Result.
// ctx ends Margin before the operation's timeout (OCF_RESKEY_CRM_meta_timeout),
// so that the handler can still clean up, with CleanupContext, and return
// before Pacemaker kills the process.
type HandlerFunc func(ctx context.Context, req *Request) error

// The OCF action names a handler can be declared for. MetaData and
// ValidateAll are answered by the framework.
const (
	ActionStart       = "start"
	ActionStop        = "stop"
	ActionMonitor     = "monitor"
	ActionPromote     = "promote"
	ActionDemote      = "demote"
	ActionNotify      = "notify"
	ActionReloadAgent = "reload-agent"
	ActionMetaData    = "meta-data"
	ActionValidateAll = "validate-all"
)

// actionLegacyReload is the pre-OCF-1.1 name of reload-agent. It is what our
// meta-data advertises and what Pacemaker 2.1.5 then calls; see MetaData.
const actionLegacyReload = "reload"

// Action declares one action of an agent: the handler and the timing that
// the meta-data advertises (pcs copies it into new resources' operations).
// An action may be declared several times, e.g. monitor once per role with
// different intervals; exactly one of the declarations carries the Handler.
// meta-data and validate-all need no Handler and are added if not declared.
type Action struct {
	Name     string
	Handler  HandlerFunc
	Timeout  time.Duration
	Interval time.Duration // for recurring monitors
	Depth    int           // OCF_CHECK_LEVEL of a monitor
	Role     Role          // for role-specific monitors
}

// Agent is the single declaration of a resource agent. Build it with New or
// MustNew, which check it.
type Agent struct {
	Name      string // as in ocf:vnfha:<Name>
	Version   string // the agent's own version, not the OCF version
	ShortDesc string
	LongDesc  string
	Params    []Param
	Actions   []Action
	// Check, if set, checks what the parameter types cannot: ranges,
	// formats, combinations of values. It runs after the framework's typed
	// parsing, before every action that reads the configuration, monitor
	// and probes included, so it must depend on the parameters and the
	// environment only, never on this node's files, links or processes
	// (those belong in Validate), and be cheap. Whatever it returns is
	// ERR_CONFIGURED, with the same reason from validate-all, start,
	// promote, reload-agent and monitor; stop, demote and notify log it as
	// a warning and run anyway (docs/agents/README.md, "invalid
	// parameters").
	Check func(req *Request) error
	// Validate, if set, runs after the parameter checks (typed parsing and
	// Check) in validate-all, start, promote and reload-agent: the actions
	// that act on the configuration. It checks what depends on this node
	// (files, interfaces, users) and returns ErrArgs or ErrNotInstalled for
	// what may be different on another node, ErrNotConfigured for what is
	// wrong everywhere. It does not run for monitor: a node-local problem
	// must not make a probe fail.
	Validate HandlerFunc
	// ExitCodes lists the codes worth documenting on the reference page,
	// with what they mean for this agent.
	ExitCodes []ExitCodeDoc
	// Helpers are the agent's helper processes by name; see HelperFunc
	// and HelperCommand.
	Helpers map[string]HelperFunc
	// Notes is Markdown appended to the agent's reference page
	// (docs/agents/<name>.md) under "## Notes", after the exit codes:
	// what the agent refuses and why, how it differs from the stock
	// agents. It is not part of the meta-data, which Pacemaker and pcs
	// show and which should stay short.
	Notes string

	handlers map[string]HandlerFunc
}

// ExitCodeDoc documents what one exit code means for an agent.
type ExitCodeDoc struct {
	Code Code
	When string
}

// Request is one invocation of an agent, as a handler sees it.
type Request struct {
	Action string
	Env    *Env
	Params Params
	// Probe is true for a monitor with interval 0: Pacemaker asking what is
	// running where before it has started anything. A probe must answer
	// NotRunning, not an error, when the service is merely absent.
	Probe bool
	// Notify is set for the notify action.
	Notify *Notify
	// Log is the action's logger, with the resource and action as fields:
	// warnings and errors go to stderr, which Pacemaker records; info and
	// debug to the node's log (Env.Log). See newActionLogger.
	Log *logrus.Entry
}

var namePattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_-]*$`)

// New checks a declaration and returns the agent ready to Run. It rejects
// what would produce meta-data that Pacemaker, pcs or ocf-tester refuse, and
// defaults that do not parse as their type.
func New(a Agent) (*Agent, error) {
	var errs []error
	if !namePattern.MatchString(a.Name) {
		errs = append(errs, fmt.Errorf("agent name %q is not a valid name", a.Name))
	}
	if a.ShortDesc == "" || a.LongDesc == "" {
		errs = append(errs, fmt.Errorf("agent %s: shortdesc and longdesc are required", a.Name))
	}
	seen := map[string]bool{}
	for _, p := range a.Params {
		if !namePattern.MatchString(p.Name) {
			errs = append(errs, fmt.Errorf("parameter name %q is not a valid name", p.Name))
		}
		if seen[p.Name] {
			errs = append(errs, fmt.Errorf("parameter %s declared twice", p.Name))
		}
		seen[p.Name] = true
		if p.ShortDesc == "" {
			errs = append(errs, fmt.Errorf("parameter %s: shortdesc is required", p.Name))
		}
		if !knownType(p.Type) {
			errs = append(errs, fmt.Errorf("parameter %s: unknown type %q", p.Name, p.Type))
		} else if p.Default != "" {
			if _, err := ParseValue(p.Type, p.Default); err != nil {
				errs = append(errs, fmt.Errorf("parameter %s: default: %w", p.Name, err))
			}
		}
		if p.Required && p.Default != "" {
			errs = append(errs, fmt.Errorf("parameter %s: a required parameter cannot have a default", p.Name))
		}
		if p.Unique && p.Reloadable {
			// Pacemaker restarts a resource when a unique parameter changes.
			errs = append(errs, fmt.Errorf("parameter %s: a unique parameter cannot be reloadable", p.Name))
		}
	}

	a.handlers = map[string]HandlerFunc{}
	declared := map[string]bool{}
	for _, act := range a.Actions {
		switch act.Name {
		case ActionStart, ActionStop, ActionMonitor, ActionPromote, ActionDemote, ActionNotify, ActionReloadAgent:
			if act.Handler != nil {
				if a.handlers[act.Name] != nil {
					errs = append(errs, fmt.Errorf("action %s has two handlers", act.Name))
				}
				a.handlers[act.Name] = act.Handler
			}
		case ActionMetaData, ActionValidateAll:
			if act.Handler != nil {
				errs = append(errs, fmt.Errorf("action %s is provided by package ocf and takes no handler", act.Name))
			}
		default:
			errs = append(errs, fmt.Errorf("action %q is not an OCF action vnfha supports", act.Name))
		}
		if act.Timeout <= 0 {
			errs = append(errs, fmt.Errorf("action %s: a timeout is required", act.Name))
		}
		declared[act.Name] = true
	}
	for name := range declared {
		if _, framework := frameworkTimeouts[name]; !framework && a.handlers[name] == nil {
			errs = append(errs, fmt.Errorf("action %s is declared without a handler", name))
		}
	}
	for _, required := range []string{ActionStart, ActionStop, ActionMonitor} {
		if a.handlers[required] == nil {
			errs = append(errs, fmt.Errorf("action %s is required", required))
		}
	}
	if (a.handlers[ActionPromote] == nil) != (a.handlers[ActionDemote] == nil) {
		errs = append(errs, errors.New("promote and demote must be declared together"))
	}
	// Appended in a fixed order, so that the meta-data is reproducible.
	for _, name := range []string{ActionMetaData, ActionValidateAll} {
		if !declared[name] {
			a.Actions = append(a.Actions, Action{Name: name, Timeout: frameworkTimeouts[name]})
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("declare agent %s: %w", a.Name, err)
	}
	return &a, nil
}

// frameworkTimeouts are the actions package ocf answers itself, with the
// timeouts advertised when the agent declares none.
var frameworkTimeouts = map[string]time.Duration{
	ActionMetaData:    5 * time.Second,
	ActionValidateAll: 20 * time.Second,
}

// MustNew is New for package-level declarations: a bad declaration is a
// programming error, caught by the agent's tests.
func MustNew(a Agent) *Agent {
	ag, err := New(a)
	if err != nil {
		panic(err)
	}
	return ag
}

// reloads reports whether the agent applies parameter changes in place.
func (a *Agent) reloads() bool { return a.handlers[ActionReloadAgent] != nil }

// Supports reports whether the agent answers action (by its OCF name).
func (a *Agent) Supports(action string) bool {
	if _, ok := frameworkTimeouts[action]; ok {
		return true
	}
	return a.handlers[action] != nil
}

func knownType(t ParamType) bool {
	return slices.Contains([]ParamType{String, Integer, Boolean, Time}, t)
}
