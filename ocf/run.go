package ocf

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/sirupsen/logrus"
)

// Main runs the agent as a process: the action is os.Args[1], and the exit
// status is the OCF exit code. It does not return.
func (a *Agent) Main() {
	os.Exit(int(a.Run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)))
}

// Run performs one invocation: args[0] is the action, lookup reads the
// environment Pacemaker set up. It returns the exit code; it is the one place
// that turns a handler's result into that code and writes the
// "ocf-exit-reason:" line to stderr. A panic in a handler is recovered and
// reported as ErrGeneric, because Go's own exit status for a panic (2) would
// read as ErrArgs to Pacemaker.
func (a *Agent) Run(ctx context.Context, args []string, lookup LookupFunc, stdout, stderr io.Writer) (code Code) {
	if len(args) == 0 {
		a.usage(stderr)
		return a.report(stderr, nil, Errorf(ErrArgs, "no action given"))
	}
	action := args[0]
	switch action {
	case ActionMetaData:
		// No environment is read: pcs and ocf-tester call meta-data with
		// none, ocf-tester even as user nobody.
		b, err := a.MetaData()
		if err != nil {
			return a.report(stderr, nil, err)
		}
		if _, err := stdout.Write(b); err != nil {
			return a.report(stderr, nil, fmt.Errorf("write meta-data: %w", err))
		}
		return Success
	case "usage", "help", "-h", "--help":
		a.usage(stdout)
		return Success
	}
	handler, action := a.resolve(action)
	if handler == nil && action != ActionValidateAll {
		a.usage(stderr)
		return a.report(stderr, nil, Errorf(ErrUnimplemented, "%s does not implement action %q", a.Name, args[0]))
	}

	env, envErr := ParseEnv(lookup)
	log := newLogger(stderr, env, action)
	defer func() {
		if r := recover(); r != nil {
			code = a.report(stderr, log, Generic("%s %s panicked: %v", a.Name, action, r))
		}
	}()
	if envErr != nil {
		return a.report(stderr, log, Errorf(ErrArgs, "read Pacemaker environment: %w", envErr))
	}
	params, paramErr := parseParams(a.Params, lookup)
	req := &Request{
		Action: action,
		Env:    env,
		Params: params,
		Probe:  action == ActionMonitor && env.Interval == 0,
		Log:    log,
	}
	if env.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, env.Timeout)
		defer cancel()
	}
	log.Debug("begin")

	switch action {
	case ActionValidateAll, ActionStart, ActionPromote, ActionReloadAgent:
		// These act on the configuration, so a bad one stops them. It is
		// ERR_CONFIGURED: the same parameters are wrong on every node.
		if paramErr != nil {
			return a.report(stderr, log, Errorf(ErrNotConfigured, "invalid parameters: %w", paramErr))
		}
		if a.Validate != nil {
			if err := a.Validate(ctx, req); err != nil {
				return a.report(stderr, log, err)
			}
		}
		if action == ActionValidateAll {
			return a.report(stderr, log, nil)
		}
	default:
		// stop, monitor, demote and notify still run, with defaults in place
		// of bad values: a failed stop gets the node fenced, and a monitor
		// must report what is running even after a bad edit.
		if paramErr != nil {
			log.WithError(paramErr).Warn("invalid parameters, using defaults")
		}
	}
	if action == ActionNotify {
		n, err := ParseNotify(lookup)
		if err != nil {
			log.WithError(err).Warn("incomplete notify environment")
		}
		req.Notify = n
	}
	return a.report(stderr, log, handler(ctx, req))
}

// resolve maps an invoked action name to its handler and canonical name.
// "reload" is what Pacemaker calls when the meta-data advertises the legacy
// action (see MetaData), so it reaches the reload-agent handler.
func (a *Agent) resolve(action string) (HandlerFunc, string) {
	if action == actionLegacyReload && a.reloads() {
		action = ActionReloadAgent
	}
	return a.handlers[action], action
}

// report is the single place where a result becomes an exit code.
// log is nil before the environment has been read.
func (a *Agent) report(stderr io.Writer, log *logrus.Entry, err error) Code {
	code, reason := Result(err)
	if reason != "" {
		// Pacemaker keeps the last such line; one line, so no newlines.
		reason = strings.Join(strings.Fields(reason), " ")
		fmt.Fprintf(stderr, "ocf-exit-reason:%s\n", reason)
	}
	if log != nil {
		if code.IsFailure() {
			log.Errorf("end: %d (%s)", int(code), code)
		} else {
			log.Debugf("end: %d (%s)", int(code), code)
		}
	}
	return code
}

func (a *Agent) usage(w io.Writer) {
	names := []string{}
	for _, n := range []string{ActionStart, ActionStop, ActionMonitor, ActionPromote, ActionDemote, ActionNotify, ActionReloadAgent} {
		if a.handlers[n] != nil {
			names = append(names, n)
		}
	}
	if a.reloads() {
		names = append(names, actionLegacyReload)
	}
	names = append(names, ActionValidateAll, ActionMetaData, "usage")
	fmt.Fprintf(w, "usage: %s {%s}\n", a.Name, strings.Join(names, "|"))
}
