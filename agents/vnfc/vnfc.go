// Package vnfc is ocf:vnfha:vnfc, one process of a VNF (a VNFC) run by
// Pacemaker as a primitive, a clone (active/active) or a promotable clone
// (active/standby). It does what ocf:heartbeat:anything does, with two
// differences that matter for a VNF: an unexpected exit is reported to
// Pacemaker the moment it happens, by a supervisor that owns the process,
// instead of at the next monitor; and the promotable form gives the
// active/standby pair its promote and demote hooks and promotion scores.
package vnfc

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/vnfha/vnfha/ocf"
)

// name is the agent's name, as a constant so that the helper's command line
// can be built without referring to Agent from its own handlers.
const name = "vnfc"

// Agent is the declaration of ocf:vnfha:vnfc.
var Agent = ocf.MustNew(ocf.Agent{
	Name:      name,
	Version:   "1.0",
	ShortDesc: "VNF component process, with failures reported to Pacemaker at once",
	LongDesc: "Runs one process of a VNF (a VNFC): as a primitive, as a clone for active/active VNFCs behind a load " +
		"balancer, or as a promotable clone for an active/standby pair, where the promoted instance is the active one " +
		"and holds the virtual IP (colocate an ocf:vnfha:vip with the Promoted role).\n\n" +
		"With backend=process, start runs a small supervisor (this agent's own binary, in a session of its own) " +
		"that starts command as a child in a new process group (a session of its own, with nice), reaps it and, the moment it exits while it " +
		"should be running, tells Pacemaker (fast_fail): it sends the local controller the request that " +
		"\"crm_resource --fail\" sends, over the controller's IPC, and runs crm_resource --fail only if that " +
		"fails. Recovery then starts within milliseconds instead of at the next monitor. A stop is never " +
		"reported. Stop sends stop_signal to every process of the VNFC (its process group, and everything below the " +
		"supervisor, a child subreaper), and SIGKILL after stop_timeout.\n\n" +
		"With backend=systemd, the VNFC is a systemd unit, driven over D-Bus: an existing unit, or a transient " +
		"unit for command.\n\n" +
		"Monitor checks that the VNFC runs and, when health is set, that it answers its health check. It forks " +
		"nothing unless health is an exec: check, or a promotion score must be restored.\n\n" +
		"In a promotable clone, start gives the instance a promotion score of 5 and promote of 10 " +
		"(crm_attribute --promotion), as Pacemaker's own ocf:pacemaker:Stateful does; an instance that fails " +
		"loses its score with the stop. Monitor gives a running instance its score back when a restart of " +
		"Pacemaker on the node erased it (it asks the node's attribute manager over its IPC: no fork while the " +
		"score is there). promote_command and demote_command tell the VNFC its new role.",
	Params: []ocf.Param{
		{
			Name: "command", Type: ocf.String,
			ShortDesc: "The VNFC's command line",
			LongDesc: "The program and its arguments, run directly, never through a shell. Quoting follows the shell, " +
				"without any expansion: blanks separate arguments; 'single quotes' keep everything; \"double quotes\" " +
				"keep everything but \\\" and \\\\; a backslash outside quotes makes the next character literal. " +
				"$, ~, *, ; and | are ordinary characters. A program without a slash is looked for in " +
				searchPath + ". The program must stay in the foreground, unless pidfile is set. " +
				"Required with backend=process.",
		},
		{
			Name: "user", Type: ocf.String,
			ShortDesc: "User to run as",
			LongDesc: "The user (name or uid) the VNFC and its hooks run as, with the user's groups. Default: root. Users come from " +
				"/etc/passwd; one whose uid, gid or groups cannot be read fully is refused, never run as root.",
		},
		{
			Name: "group", Type: ocf.String,
			ShortDesc: "Group to run as",
			LongDesc:  "The group (name or gid) the VNFC runs as. Default: the user's primary group.",
		},
		{
			Name: "workdir", Type: ocf.String,
			ShortDesc: "Working directory",
			LongDesc:  "The absolute path of the VNFC's working directory. Default: /.",
		},
		{
			Name: "environment", Type: ocf.String,
			ShortDesc: "Environment variables",
			LongDesc: "Variables for the VNFC, as NAME=value words quoted like command, e.g. " +
				"MODE=active 'GREETING=hello world'. The VNFC gets a clean environment: PATH, HOME, USER, LOGNAME, " +
				"LANG, VNFHA_RESOURCE (the resource instance) and VNFHA_NODE (the node), then these, which win.",
		},
		{
			Name: "nice", Type: ocf.Integer, Default: "0",
			ShortDesc: "CPU priority of the VNFC",
			LongDesc: "The VNFC's nice value, as systemd's Nice=: -20 (the most CPU) to 19 (the least); 0 leaves the " +
				"priority the VNFC inherits. The VNFC starts at it, and so does every thread and process it creates. " +
				"Where the kernel groups processes by session for the scheduler (kernel.sched_autogroup_enabled=1, the " +
				"default of most distributions), nice ranks a process only among those of its session, and sessions share " +
				"the CPU equally: with nice set, the VNFC therefore runs in a session of its own, and its session's " +
				"autogroup gets the same nice (/proc/PID/autogroup), so that the priority counts against the rest of the " +
				"node too (a process of the VNFC that calls setsid leaves it; the daemon named by pidfile gets it too). " +
				"With backend=systemd, the unit gets Nice= (in the agent's runtime drop-in for a unit file, as a property " +
				"of a transient unit) and its session's autogroup the same nice. Start fails if the priority cannot be set.",
		},
		{
			Name: "pidfile", Type: ocf.String,
			ShortDesc: "Pid file of a forking VNFC",
			LongDesc: "For a VNFC that forks into the background, like systemd's Type=forking with PIDFile=: the " +
				"process started by command must exit 0 after its daemon has written its pid here (within 5s after it exits). " +
				"The supervisor, a child subreaper, then owns and watches that daemon. The file must hold only the pid; it is " +
				"read without blocking and never quoted. Leave it empty for a VNFC that stays in the foreground: with pidfile set, " +
				"such a command never finishes starting, and start fails at its timeout.",
		},
		{
			Name: "stop_signal", Type: ocf.String, Default: "TERM",
			ShortDesc: "Signal that asks the VNFC to stop",
			LongDesc:  "The signal stop sends to every process of the VNFC first: a name (TERM, SIGINT) or a number (1-64), not STOP.",
		},
		{
			Name: "stop_timeout", Type: ocf.Time, Default: "20s",
			ShortDesc: "Grace time before SIGKILL",
			LongDesc: "How long stop waits after stop_signal before it sends SIGKILL to what is left of the VNFC (at most 1h). " +
				"It is cut short so that the SIGKILL still fits in the stop operation's timeout: a stop that times out gets the node fenced. " +
				"With backend=systemd, systemd stops the unit its own way (ExecStop=, KillSignal=, TimeoutStopSec=) for at most this long; " +
				"then every process of the unit gets SIGKILL.",
		},
		{
			Name: "settle_time", Type: ocf.Time, Default: "100ms",
			ShortDesc: "How long the VNFC must run before start succeeds",
			LongDesc: "A VNFC that ends within this time after it was started (with pidfile: after its daemon was found) " +
				"failed to start, whatever its exit status: start fails with \"the VNFC exited with status N during start\". " +
				"Start waits for it in parallel with the health check, so it costs nothing when the check takes longer; " +
				"without a health check, every start takes at least this long. A program that fails on a bad " +
				"configuration usually exits within milliseconds. 0 turns the wait off (an exit is then caught only if " +
				"it comes before start returns); at most 60s. When the start timeout (less the agent's margin) ends before the settle time, " +
				"start fails at once: \"settle_time ... does not fit in the start timeout\".",
		},
		{
			Name: "health", Type: ocf.String, Default: "none",
			ShortDesc: "Health check",
			LongDesc: "How monitor checks that the VNFC serves, besides running: none; tcp://host:port (connects); " +
				"http://host:port/path or https://... (GET; a 2xx or 3xx status is healthy; redirects are not followed; " +
				"the certificate is verified: see tls_verify and tls_ca_file); exec:/path args (exit status 0 is healthy, " +
				"run as user). A tcp check does not catch a hung VNFC, because the kernel completes the handshake of a " +
				"listening socket by itself: use http or exec for that. Start waits until the check passes.",
		},
		{
			Name: "health_timeout", Type: ocf.Time, Default: "2s",
			ShortDesc: "Health check timeout",
			LongDesc:  "How long one health check may take before it counts as failed (at most 10min). A hung VNFC is found within the monitor interval plus this.",
		},
		{
			Name: "log_file", Type: ocf.String,
			ShortDesc: "File for the VNFC's output",
			LongDesc: "An absolute path; the VNFC's stdout and stderr, and the supervisor's own messages, are appended to it " +
				"(the supervisor's also go to the node's Pacemaker log). It must be a regular file if it exists. It stays open " +
				"while the VNFC runs, so rotate it with copytruncate. Default: none (discarded).",
		},
		{
			Name: "backend", Type: ocf.String, Default: backendProcess,
			ShortDesc: "process or systemd",
			LongDesc: "process: the agent's supervisor runs command (see above). systemd: the VNFC is a systemd unit, " +
				"started, stopped and watched over D-Bus; daemon-reload and daemon-reexec are no failure (see the notes).",
		},
		{
			Name: "unit", Type: ocf.String,
			ShortDesc: "systemd unit",
			LongDesc: "With backend=systemd: the service to start, e.g. vnfc-sig.service (an alias or a template's instance " +
				"works; a target, a slice, the cluster stack's own units and systemd-* are refused: see the notes). When command is " +
				"also set, a transient service of that name runs command; when unit is empty, the transient unit is named after " +
				"the resource. A unit whose Restart= is not no, or that has a RestartForceExitStatus=, runs with Restart=no while " +
				"the cluster runs it (a runtime drop-in that stop removes, as Pacemaker's systemd class does), so that systemd " +
				"never restarts it behind Pacemaker's back; a restart by anyone but the cluster is a failure.",
		},
		{
			Name: "promote_command", Type: ocf.String,
			ShortDesc: "Promote hook",
			LongDesc: "Run when the instance is promoted, before promote returns: a command (an absolute path and its " +
				"arguments, quoted like command, run as user in workdir) that must exit 0, or an http:// or https:// URL " +
				"that gets a POST and must answer 2xx. It must finish within the promote timeout.",
		},
		{
			Name: "demote_command", Type: ocf.String,
			ShortDesc: "Demote hook",
			LongDesc: "Run when the instance is demoted, like promote_command. It is skipped when the VNFC is no " +
				"longer running, since there is nothing left to tell.",
		},
		{
			Name: "tls_verify", Type: ocf.Boolean, Default: "true",
			ShortDesc: "Verify https servers' certificates",
			LongDesc: "Whether an https health check and https role hooks verify the VNFC's certificate (against " +
				"tls_ca_file, or the system's CAs) and its name (the URL's host, which may be an IP address in the " +
				"certificate). Set it to false only for a VNFC with a self-signed certificate that has no CA to give: " +
				"the check then asks whether the local process answers, not who it is.",
		},
		{
			Name: "tls_ca_file", Type: ocf.String,
			ShortDesc: "CA certificates for https",
			LongDesc: "An absolute path to PEM certificates that https health checks and role hooks trust instead of " +
				"the system's CAs: the VNFC's own CA, or its self-signed certificate. Missing on a node: " +
				"OCF_ERR_INSTALLED there; holding no certificate: OCF_ERR_CONFIGURED.",
		},
		{
			Name: "fast_fail", Type: ocf.Boolean, Default: "true",
			ShortDesc: "Report an exit to Pacemaker at once",
			LongDesc: "When the VNFC exits while it should run, report the failure the moment it happens, as " +
				"crm_resource --fail does (see above). When false, the next monitor finds it. Before Pacemaker 2.1.6, a " +
				"failure reported this way adds 2 to the fail count, or 1 now and then: see \"Fail counts and " +
				"migration-threshold\" in the agent's notes (docs/agents/vnfc.md) for the migration-threshold to set.",
		},
	},
	Actions: []ocf.Action{
		{Name: ocf.ActionStart, Handler: start, Timeout: 30 * time.Second},
		{Name: ocf.ActionStop, Handler: stop, Timeout: 30 * time.Second},
		// A monitor without a role runs for Started and Unpromoted
		// instances; the Promoted one gets its own interval, which must
		// differ (Pacemaker keys recurring operations by interval).
		{Name: ocf.ActionMonitor, Handler: monitor, Timeout: 20 * time.Second, Interval: 10 * time.Second},
		{Name: ocf.ActionMonitor, Timeout: 20 * time.Second, Interval: 9 * time.Second, Role: ocf.RolePromoted},
		{Name: ocf.ActionPromote, Handler: promote, Timeout: 30 * time.Second},
		{Name: ocf.ActionDemote, Handler: demote, Timeout: 30 * time.Second},
		{Name: ocf.ActionValidateAll, Timeout: 20 * time.Second},
		{Name: ocf.ActionMetaData, Timeout: 5 * time.Second},
	},
	Check:    check,
	Validate: validate,
	ExitCodes: []ocf.ExitCodeDoc{
		{Code: ocf.ErrGeneric, When: "start: the VNFC could not be executed, exited within settle_time (\"the VNFC exited with status N during start\"), " +
			"left no valid pid file, or was not healthy within the start timeout, or its unit was still activating at the start timeout " +
			"(\"unit U is still activating (start-pre) at the start timeout\"); what it started is stopped. monitor: the VNFC exited " +
			"(how, when, its pid), its unit was started anew (by systemd's Restart= or by hand), it failed its health check, or a start did not finish. " +
			"promote, demote: a role hook failed. " +
			"stop: a process of the VNFC, or of its unit, survived SIGKILL (only one stuck in the kernel does; the node is then fenced)."},
		{Code: ocf.ErrNotInstalled, When: "validate-all, start, promote: the command's program, workdir, the log_file's directory, a hook's or an exec " +
			"check's program, tls_ca_file, or crm_resource (fast_fail) is missing on this node, or the VNFC's user cannot reach the program, workdir, " +
			"a hook's or check's program, or the log file (the reason names the directory in the way); with backend=systemd, the unit is not found, " +
			"masked or does not load here, or the node is not booted with systemd. Pacemaker bans the resource from this node only."},
		{Code: ocf.ErrNotConfigured, When: "validate-all, start, promote and monitor (probes too): a parameter does not parse or is out of range, " +
			"or the resource name is not one file name, or unit is no service or the cluster's own. validate-all, start and promote only: an unknown user or group, ids that do not " +
			"parse, log_file or pidfile naming a directory, fifo, device or symbolic link, tls_ca_file without a certificate. See the notes."},
		{Code: ocf.NotRunning, When: "monitor: nothing of the VNFC runs here (also for a configuration that could not start here). " +
			"demote: the instance is stopped."},
		{Code: ocf.FailedPromoted, When: "The promoted instance exited or failed its health check."},
		{Code: ocf.Degraded, When: "The VNFC runs and is healthy, but its supervisor is gone (killed), so an exit would only be found by the next monitor; " +
			"or its unit runs but the cluster did not start it here (systemctl start by hand): not watched, its own Restart= applies. 191 when promoted."},
	},
	Notes:   notes,
	Helpers: map[string]ocf.HelperFunc{"supervise": supervise, "watch": watch},
})

// logger is the part of the request's logger the backends use.
type logger interface {
	Warnf(format string, args ...any)
}

// configOf parses and resolves the parameters, for the actions that act on
// the configuration (validate-all, start, promote).
func configOf(req *ocf.Request) (*config, error) {
	c, err := configFor(req)
	if err != nil {
		return nil, ocf.NotConfigured("%v", err)
	}
	if err := c.resolve(); err != nil {
		return nil, err
	}
	return c, nil
}

// check is the framework's Check hook: the parameters, which need nothing
// from the node. The framework makes whatever it returns ERR_CONFIGURED,
// with the same reason from validate-all, start, promote and monitor
// (probes included); stop and demote log it and run. The framework also
// refuses an instance name that is no file name, before this; an empty
// one passes, for callers of validate-all that set none, and the actions
// that need the state directory refuse it (stateDir).
func check(req *ocf.Request) error {
	_, err := configFor(req)
	return err
}

// validate runs in validate-all, start and promote, after check: what
// the configuration names on this node (resolve).
func validate(ctx context.Context, req *ocf.Request) error {
	c, err := configOf(req)
	if err != nil {
		return err
	}
	if c.backend == backendSystemd {
		return validateSystemd(ctx, c)
	}
	return nil
}

// backendOf picks the backend of the instance: the one its start used,
// from the record, else the one the parameters name.
func backendOf(req *ocf.Request, dir string) backend {
	kind := req.Params.String("backend")
	if rec, err := readRecord(dir); err == nil && rec != nil && rec.Backend != "" {
		kind = rec.Backend
	}
	if kind == backendSystemd {
		return &systemdBackend{dir: dir, unit: unitOf(req), log: req.Log}
	}
	return &processBackend{dir: dir}
}

func start(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		return err
	}
	c, err := configOf(req)
	if err != nil {
		return err
	}
	b := backendOf(req, dir)
	st, err := b.status(ctx)
	if err != nil {
		return err
	}
	switch st.state {
	case running:
		if !st.foreign {
			req.Log.Debug("already running")
			return setScore(ctx, req, scoreUnpromoted)
		}
		req.Log.Infof("taking over: %s", st.reason)
	case failed:
		req.Log.Infof("cleaning up before start: %s", st.reason)
		if err := b.stop(ctx, c, req.Log); err != nil {
			return err
		}
	}
	// The record of a stopped start is gone: the parameters pick the
	// backend now.
	b = backendOf(req, dir)
	if err := startUp(ctx, req, c, b); err != nil {
		// Principle 3: a start that fails, or runs out of time, stops what
		// it started, within the operation's margin.
		cctx, cancel := ocf.CleanupContext(ctx)
		defer cancel()
		if serr := b.stop(cctx, c, req.Log); serr != nil {
			req.Log.Warnf("clean up after failed start: %v", serr)
		}
		return err
	}
	req.Log.Info("started")
	return nil
}

// startUp starts the VNFC, waits until it is healthy and has run for the
// settle time, arms the report of its exit and sets the promotion score.
func startUp(ctx context.Context, req *ocf.Request, c *config, b backend) error {
	if err := b.start(ctx, c, req.Env); err != nil {
		return err
	}
	var ready func(context.Context) error
	if c.health != nil {
		ready = func(ctx context.Context) error { return c.health.check(ctx, c) }
	}
	if err := settle(ctx, b, c.settle, ready); err != nil {
		return err
	}
	return setScore(ctx, req, scoreUnpromoted)
}

// settle is what follows a backend's start: it waits until ready (if not
// nil) passes and the process has run for the settle time, then arms the
// report of its exit.
func settle(ctx context.Context, b backend, settleTime time.Duration, ready func(context.Context) error) error {
	settled := b.startedAt().Add(settleTime)
	if ready != nil {
		if err := waitReady(ctx, b, ready); err != nil {
			return err
		}
	}
	// A VNFC that exits within the settle time failed to start, whatever
	// its exit status: without this, /bin/false "starts" whenever start
	// wins the race with its exit.
	//
	// The result depends on the clock alone, never on whether the
	// context's timer has fired yet: a start timeout that ends before the
	// settle time always fails, at once, with the same reason.
	if dl, ok := ctx.Deadline(); ok && dl.Before(settled) {
		return ocf.Generic("settle_time %s does not fit in the start timeout", settleTime)
	}
	// The wait may end a little early (a poll's timeout is rounded to
	// milliseconds): it is repeated until the settle time has passed,
	// a few times at most.
	for i := 0; i < 10; i++ {
		d := time.Until(settled)
		if d <= 0 {
			break
		}
		// Rounded up to a millisecond: a shorter wait would not block.
		if gone, how := b.wait(ctx, d.Truncate(time.Millisecond)+time.Millisecond); gone {
			return ocf.Generic("%s", how)
		}
		if ctx.Err() != nil && time.Now().Before(settled) {
			// Canceled: the deadline was checked above.
			return ocf.Generic("settle_time %s does not fit in the start timeout", settleTime)
		}
	}
	// What the loop may leave is a fraction of a millisecond; arm checks
	// for an exit once more.
	if d := time.Until(settled); d > 0 {
		time.Sleep(min(d, 10*time.Millisecond))
	}
	return b.arm(ctx)
}

// How often start retries the health check while the VNFC comes up: there
// is no event for "now it serves". The first retries come quickly, since a
// VNFC that is up within milliseconds is the case failover waits on. The
// pause is a wait for the VNFC's exit, so an exit ends it at once.
const (
	healthPollFirst = 10 * time.Millisecond
	healthPollMax   = 200 * time.Millisecond
)

// waitReady waits until ready (the health check) passes, the VNFC exits,
// or the start timeout ends.
func waitReady(ctx context.Context, b backend, ready func(context.Context) error) error {
	var last error
	for pause := healthPollFirst; ; pause = min(2*pause, healthPollMax) {
		err := ready(ctx)
		if err == nil {
			return nil
		}
		// A check cut short by the start's own deadline says less than
		// the one before it.
		if ctx.Err() == nil || last == nil {
			last = err
		}
		if gone, how := b.wait(ctx, pause); gone {
			return ocf.Generic("%s", how)
		}
		if ctx.Err() != nil {
			return ocf.Generic("not healthy within the start timeout: %v", last)
		}
	}
}

func stop(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		// Principle 1: with a name that cannot be a directory of ours,
		// no start can have run, so nothing runs.
		req.Log.Warnf("%v: nothing of it can run", err)
		return nil
	}
	// Stop must work with whatever parameters it gets: only the stop signal
	// and timeout are used, with defaults if they are invalid.
	c, err := configFor(req)
	if err != nil {
		req.Log.Warnf("invalid parameters (%v); stopping with SIGTERM and the default timeout", err)
		c = nil
	}
	if err := backendOf(req, dir).stop(ctx, c, req.Log); err != nil {
		return err
	}
	// Principle 1: the VNFC is gone, so stop succeeded. The score is a
	// reboot-lifetime attribute: one left behind (the CIB unreachable,
	// crm_attribute missing) only makes this node a promotion candidate
	// until the next start sets it again or a probe finds nothing.
	if err := clearScore(ctx, req); err != nil {
		req.Log.Warnf("stopped, but the promotion score stays: %v", err)
	}
	return nil
}

func monitor(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		return err
	}
	// The framework's Check has refused invalid parameters already (6,
	// probes included). What depends on the node (a missing binary, an
	// unknown user) is not looked at: what runs is what counts.
	c, err := configFor(req)
	if err != nil {
		return ocf.NotConfigured("%v", err)
	}
	b := backendOf(req, dir)
	st, err := b.status(ctx)
	if err != nil {
		return err
	}
	promoted := exists(filepath.Join(dir, promotedFile))
	fail := func(reason string) error {
		if promoted {
			return ocf.Errorf(ocf.FailedPromoted, "%s", reason)
		}
		return ocf.Generic("%s", reason)
	}
	switch st.state {
	case stopped:
		return ocf.NotRunning
	case failed:
		return fail(st.reason)
	}
	if c.health != nil {
		if c.health.argv != nil && (c.user != "" || c.group != "") {
			// An exec check runs as the VNFC's user.
			if c.cred, c.home, err = lookupCredential(c.user, c.group); err != nil {
				return fail(fmt.Sprintf("health check cannot run: %v", err))
			}
		}
		if err := c.health.check(ctx, c); err != nil {
			return fail(err.Error())
		}
	}
	// Healthy and running: it must be promotable (degraded too, since
	// Pacemaker keeps it).
	restoreScore(ctx, req, dir)
	if st.unsupervised {
		code := ocf.Degraded
		if promoted {
			code = ocf.DegradedPromoted
		}
		reason := "the VNFC runs, but its supervisor is gone: an exit will be found by the next monitor, not at once; restart the resource to supervise it again"
		if st.reason != "" {
			reason = st.reason
		}
		return ocf.Errorf(code, "%s", reason)
	}
	if promoted {
		return ocf.RunningPromoted
	}
	return nil
}

// errNoVNFC is returned by promote for an instance that does not run.
var errNoVNFC = errors.New("the VNFC is not running")

func promote(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		return err
	}
	c, err := configOf(req)
	if err != nil {
		return err
	}
	st, err := backendOf(req, dir).status(ctx)
	if err != nil {
		return err
	}
	if st.state != running {
		return ocf.Generic("cannot promote: %v %s", errNoVNFC, st.reason)
	}
	marker := filepath.Join(dir, promotedFile)
	if exists(marker) {
		// Already promoted, and its hook succeeded: do not tell the VNFC
		// twice. A demote, by contrast, always runs its hook, since it is
		// also how a half-done promote is undone.
		return setScore(ctx, req, scorePromoted)
	}
	if err := c.runHook(ctx, c.promote, "promote"); err != nil {
		return err
	}
	if err := touch(marker); err != nil {
		return ocf.Generic("%v", err)
	}
	return setScore(ctx, req, scorePromoted)
}

func demote(ctx context.Context, req *ocf.Request) error {
	dir, err := stateDir(req.Env)
	if err != nil {
		// Nothing can run under such a name, so there is nothing to
		// demote; as the framework does for a name that is no file name,
		// demote does not fail because of the configuration.
		req.Log.Warnf("%v: nothing of it can run", err)
		return nil
	}
	st, err := backendOf(req, dir).status(ctx)
	if err != nil {
		return err
	}
	if st.state == stopped {
		return ocf.NotRunning
	}
	if st.state == running {
		// Demote never fails because of the configuration (the agreed
		// rule; the framework runs it with invalid parameters): without a
		// usable configuration the hook is skipped, and the instance still
		// loses its promoted marker and score. Only a hook that ran and
		// failed fails demote, with 1; the stop that recovers it follows.
		c, err := configOf(req)
		switch {
		case err != nil:
			req.Log.Warnf("demote hook skipped: %v", err)
		default:
			if err := c.runHook(ctx, c.demote, "demote"); err != nil {
				return asGeneric(err)
			}
		}
	}
	if err := os.Remove(filepath.Join(dir, promotedFile)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return ocf.Generic("remove promotion marker: %v", err)
	}
	if st.state != running {
		// The failed instance's recovery: the stop that follows deletes
		// the score. Setting it here as well would only make Pacemaker
		// abort the transition that moves the promotion, and compute it
		// again.
		req.Log.Info("the VNFC is not running; demote hook and score skipped")
		return nil
	}
	return asGeneric(setScore(ctx, req, scoreUnpromoted))
}

// asGeneric makes any failure ErrGeneric: for demote, where a missing
// crm_attribute or a hook's configuration must not read as the
// configuration's fault (5, 6), which would ban the resource.
func asGeneric(err error) error {
	if err == nil {
		return nil
	}
	var oe *ocf.Error
	if errors.As(err, &oe) && oe.Code == ocf.ErrGeneric {
		return err
	}
	return ocf.Generic("%v", err)
}
