// Package ocf is the framework every vnfha OCF resource agent is written with.
//
// An agent is declared once, as an Agent value: its name, descriptions,
// parameters and actions. From that single declaration the package derives
// the meta-data XML that Pacemaker, pcs and ocf-tester read, the typed
// parameter values a handler receives, the validate-all action, and the
// Markdown reference page under docs/agents/.
//
// The rules below are the framework's share of the principles in
// docs/agents/README.md; an agent written with it gets them without code
// of its own.
//
// # Results and exit reasons
//
// Handlers return an error. A nil error is OCF_SUCCESS; an *Error or a Code
// carries any other OCF exit code (including the non-error states
// OCF_NOT_RUNNING and OCF_RUNNING_PROMOTED); any other error is
// OCF_ERR_GENERIC. Exactly one function, (*Agent).Run, turns that result
// into the process exit code and the "ocf-exit-reason:" line on stderr.
//
// Pacemaker keeps MaxReasonLen (128) bytes of an exit reason. Run writes
// ExitReason(err): one line, no control characters, at most 128 bytes, and,
// when the text had to be cut, the most specific cause first with the
// context that wrappers added after it in parentheses. Agents write reasons
// naturally, context first, wrapping with %w ("start %s: %w"); the full text
// goes to the log. Values read from files or given by the administrator are
// echoed with Quote, which shows at most QuoteMax bytes.
//
// # Invalid parameters: one misconfiguration, one result
//
// A parameter that does not parse as its declared type, a missing required
// one, or one that the agent's Check hook refuses (ranges, formats,
// combinations: pure checks of the values) makes validate-all, start,
// promote, reload-agent and monitor, probes included, return
// OCF_ERR_CONFIGURED with the same reason. stop, demote and notify never
// fail because of the configuration: they log a warning and run, with
// defaults in place of values that do not parse, because a failed stop gets
// the node fenced. Validate, the agent's node-local checks (files, links,
// users), runs only for validate-all, start, promote and reload-agent, and
// returns OCF_ERR_ARGS or OCF_ERR_INSTALLED for what may be different on
// another node; it never runs for a probe.
//
// # Time
//
// With an operation timeout T (OCF_RESKEY_CRM_meta_timeout), a handler's
// context ends Margin(T) before it: T/10, at least 1s, at most 5s, never
// more than T/2. Pacemaker's executor SIGKILLs the agent's process group at
// T, so whatever a handler must still do once its context has ended, such as
// stopping what a failed start began, it does with CleanupContext(ctx),
// which ends at T - Margin(T)/5. If the handler has still not returned by
// then, Run reports a failure ("start did not finish within its 20s
// timeout") and returns, so that Pacemaker gets a reason rather than a kill.
//
// # Logs
//
// Request.Log is a logrus entry. Warnings and errors go to stderr, which
// Pacemaker's executor records in its log as the action's "error output";
// info, and debug with HA_debug (or trace_ra) set, go where Pacemaker logs
// info on the node: the file and syslog facility it exports to agents
// (HA_LOGFILE, HA_LOGFACILITY; Env.Log), in resource-agents' ha_log format.
// Without either, info is dropped and debug goes to stderr, unless stderr
// is a terminal, where everything is shown. A helper process, whose stderr
// reaches no log, gets the same destinations from the LogTarget its spec
// carries: NewHelperLogger. Writing a log line never blocks.
//
// # Names and helpers
//
// CheckName refuses a name that would not stay one file name when joined
// onto a directory ("/", "..", control characters, too long). Run applies
// it to OCF_RESOURCE_INSTANCE: such a name is ERR_CONFIGURED, and stop,
// demote and notify succeed without calling the handler. StartHelper
// and OpenHelper are the one start-up protocol of the long-lived helper
// processes an action leaves running.
package ocf
