package ocf

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
)

// Main runs the agent as a process: the action is os.Args[1], and the exit
// status is the OCF exit code. It does not return.
func (a *Agent) Main() {
	os.Exit(int(a.Run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)))
}

// Margin returns how long before an operation's timeout the context of
// its handler ends: a tenth of the timeout, at least one second and at
// most five, and never more than half the timeout. Pacemaker's executor
// kills an agent's whole process group with SIGKILL when the timeout
// passes, so what a handler does after its context ends (stop what a
// failed start left, see CleanupContext) and the exit reason must fit in
// this margin.
//
//	timeout  handler ctx  cleanup until
//	1s       0.5s         0.9s
//	5s       4s           4.8s
//	20s      18s          19.6s
//	600s     595s         599s
func Margin(timeout time.Duration) time.Duration {
	m := min(max(timeout/10, time.Second), 5*time.Second)
	return min(m, timeout/2)
}

// cleanupEnd is how long before the operation's timeout the cleanup
// context ends (a fifth of the margin): the rest is for Run to write the
// exit reason and the process to exit.
func cleanupEnd(opEnd time.Time, timeout time.Duration) time.Time {
	return opEnd.Add(-Margin(timeout) / 5)
}

// DefaultCleanupTimeout bounds a CleanupContext where no operation timeout
// is known: an agent run by hand, or a helper's own context.
const DefaultCleanupTimeout = 5 * time.Second

type cleanupKey struct{}

// CleanupContext returns a context for the work a handler must still do
// once ctx has ended, typically stopping what a failed or timed-out start
// began (principle 3). It is not cancelled with ctx. In a handler, its
// deadline is the end of the operation's margin (see Margin), so the
// cleanup still ends before Pacemaker kills the agent; for a context that
// did not come from Run it is DefaultCleanupTimeout from now. Values of
// ctx are kept. Call cancel when done.
//
//	if err := waitHealthy(ctx, c); err != nil {
//		cctx, cancel := ocf.CleanupContext(ctx)
//		defer cancel()
//		_ = stopAll(cctx, c)
//		return err
//	}
func CleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	base := context.WithoutCancel(ctx)
	if end, ok := ctx.Value(cleanupKey{}).(time.Time); ok {
		return context.WithDeadline(base, end)
	}
	return context.WithTimeout(base, DefaultCleanupTimeout)
}

// Run performs one invocation: args[0] is the action, lookup reads the
// environment Pacemaker set up. It returns the exit code; it is the one place
// that turns a handler's result into that code and writes the
// "ocf-exit-reason:" line to stderr (see ExitReason). A panic in a handler is
// recovered and reported as ErrGeneric, because Go's own exit status for a
// panic (2) would read as ErrArgs to Pacemaker.
//
// With an operation timeout (OCF_RESKEY_CRM_meta_timeout), the handler's
// context ends Margin before it, and Run itself reports a failure at the
// end of the cleanup time if the handler has still not returned, so that
// Pacemaker gets a reason instead of killing the agent.
func (a *Agent) Run(ctx context.Context, args []string, lookup LookupFunc, stdout, stderr io.Writer) (code Code) {
	// Pacemaker's timer started when it forked the agent: take the time
	// before anything else.
	begin := time.Now()
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
		return a.report(stderr, nil, Errorf(ErrUnimplemented, "%s does not implement action %s", a.Name, Quote(args[0])))
	}

	env, envErr := ParseEnv(lookup)
	terminal := isTerminal(stderr)
	// The handler may still log while Run reports (see the watchdog below).
	stderr = &syncWriter{w: stderr}
	log := newActionLogger(stderr, env, a.Name, action, terminal)
	// stop, demote and notify run whatever the configuration: a failed stop
	// gets the node fenced (principle 1), and demote and notify precede
	// stops.
	tolerant := action == ActionStop || action == ActionDemote || action == ActionNotify
	if envErr != nil {
		if !tolerant {
			return a.report(stderr, log, Errorf(ErrArgs, "read Pacemaker environment: %w", envErr))
		}
		log.WithError(envErr).Warn("malformed Pacemaker environment; going on with what could be read")
	}
	params, paramErr := parseParams(a.Params, lookup)
	req := &Request{
		Action: action,
		Env:    env,
		Params: params,
		Probe:  action == ActionMonitor && env.Interval == 0,
		Log:    log,
	}
	if action == ActionNotify {
		n, err := ParseNotify(lookup)
		if err != nil {
			log.WithError(err).Warn("incomplete notify environment")
		}
		req.Notify = n
	}
	log.Debug("begin")

	if env.Timeout <= 0 {
		return a.report(stderr, log, a.call(ctx, req, handler, paramErr, tolerant))
	}
	opEnd := begin.Add(env.Timeout)
	hctx, cancel := context.WithDeadline(context.WithValue(ctx, cleanupKey{}, cleanupEnd(opEnd, env.Timeout)), opEnd.Add(-Margin(env.Timeout)))
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.call(hctx, req, handler, paramErr, tolerant) }()
	watchdog := time.NewTimer(time.Until(cleanupEnd(opEnd, env.Timeout)))
	defer watchdog.Stop()
	select {
	case err := <-done:
		return a.report(stderr, log, err)
	case <-watchdog.C:
		// The handler ignored its context and its cleanup time. Pacemaker
		// would kill it within the moment left; report first, so that the
		// failure has a reason. The process exits with the handler still
		// running, as it would have been killed.
		return a.report(stderr, log, Generic("%s did not finish within its %s timeout", action, env.Timeout))
	}
}

// call runs the configuration checks the action needs and then its
// handler; it returns the handler's result. A panic anywhere is recovered
// into ErrGeneric.
//
// An instance name that could not be one file name (see CheckName) is
// ERR_CONFIGURED for every action but stop, demote and notify, which
// succeed without calling the handler.
//
// One misconfiguration gives one result (principle 4): a parameter that
// does not parse as its type, a missing required one, or one that Check
// refuses is ERR_CONFIGURED with the same reason from validate-all,
// start, promote, reload-agent and monitor (probes included). stop, demote
// and notify log it as a warning and run, with defaults in place of values
// that do not parse. Validate, which may look at this node, runs only for
// the actions that act on the configuration.
func (a *Agent) call(ctx context.Context, req *Request, handler HandlerFunc, paramErr error, tolerant bool) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = Generic("%s %s panicked: %v", a.Name, req.Action, r)
		}
	}()
	if err := CheckName(req.Env.Instance); err != nil && req.Env.Instance != "" {
		// Principle 6, for every agent: an instance name becomes a file
		// name under HA_RSCTMP. Pacemaker's ids cannot hold "/", so only a
		// hand-made environment gets here, and no start of this code can
		// have run under such a name: a stop has nothing to do.
		err = NotConfigured("OCF_RESOURCE_INSTANCE %s %v", Quote(req.Env.Instance), err)
		if tolerant {
			req.Log.WithError(err).Warnf("nothing can run under this instance name; %s does nothing", req.Action)
			return nil
		}
		return err
	}
	var configErr error
	if paramErr != nil {
		configErr = Errorf(ErrNotConfigured, "invalid parameters: %w", paramErr)
	} else if a.Check != nil {
		configErr = a.check(req)
	}
	if configErr != nil {
		if tolerant {
			req.Log.WithError(configErr).Warnf("invalid parameters; %s runs with defaults for values that do not parse", req.Action)
		} else {
			return configErr
		}
	}
	switch req.Action {
	case ActionValidateAll, ActionStart, ActionPromote, ActionReloadAgent:
		if a.Validate != nil {
			if err := a.Validate(ctx, req); err != nil {
				return err
			}
		}
		if req.Action == ActionValidateAll {
			return nil
		}
	}
	return handler(ctx, req)
}

// check runs the agent's Check hook; whatever it returns is
// ERR_CONFIGURED. A panic in it is an invalid configuration too, so that
// a stop still runs.
func (a *Agent) check(req *Request) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = NotConfigured("checking the parameters panicked: %v", r)
		}
	}()
	err = a.Check(req)
	if err == nil {
		return nil
	}
	if code, reason := Result(err); code != ErrNotConfigured {
		return &Error{Code: ErrNotConfigured, Reason: reason, Err: err}
	}
	return err
}

// syncWriter serialises writes to an action's stderr, for the moment when
// Run reports while a handler that ignored its context still logs.
type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
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
	code, full := Result(err)
	reason := ExitReason(err)
	if reason != "" {
		// Pacemaker keeps the last such line, up to its end and at most
		// MaxReasonLen bytes.
		fmt.Fprintf(stderr, "ocf-exit-reason:%s\n", reason)
	}
	if log == nil {
		return code
	}
	// Pacemaker logs the result and the exit reason line itself; a line
	// of ours is worth it only when the reason had to be cut.
	if full = OneLine(full); full != reason {
		if code.IsFailure() {
			log.Errorf("%s (exit %d, %s)", full, int(code), code)
		} else {
			log.Infof("%s (exit %d, %s)", full, int(code), code)
		}
		return code
	}
	log.Debugf("end: %d (%s)", int(code), code)
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
