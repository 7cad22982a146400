package vnfc

// notes is the Markdown of the reference page's "Notes" (ocf.Agent.Notes):
// what the agent refuses and why, how a failed start is undone, and what an
// operator sees when a VNFC dies. The numbers in it are the constants of
// the code (settle_time's default, pidfileWait, pidfileMax...): a test
// keeps them in step.
const notes = `### One misconfiguration, one answer

The parameters are checked in two steps, as docs/agents/README.md lays out for every agent.

- **Everywhere the same** (the framework's Check hook): a value that does not parse as its type, a time out of its
  range (stop_timeout above 0 and at most 1h, health_timeout above 0 and at most 10min, settle_time 0 to 1min), command's or
  environment's quoting, an environment word that is not NAME=value, a NUL byte in any value, a relative path where an
  absolute one is needed, stop_signal that is not a signal or is STOP (it cannot be handled, so every stop would wait
  for stop_timeout), a health check or role hook URL with another scheme, a port outside 1-65535, a host that is not an
  IP address or a DNS name, or credentials in it (they would be logged), an invalid unit name, nice outside -20..19,
  and a resource name that is not one file name (see below). validate-all, start, promote and monitor, probes
  included, return 6 (OCF_ERR_CONFIGURED) with the same reason; stop and demote log it and run with the defaults.
- **On this node** (validate-all and start only): the program, workdir, log_file's directory, a hook's or an exec
  check's program, tls_ca_file missing (5, OCF_ERR_INSTALLED: Pacemaker tries another node), an unknown user or
  group, a uid or gid that is not a number below 2^32-1, a user's groups that cannot be read, log_file or pidfile
  naming a directory, a fifo or a device, tls_ca_file holding no PEM certificate (6). A probe does not look at these:
  nothing can run here with them, so it says 7.

A user or group that cannot be resolved fully is refused: the VNFC never runs as root by accident. user=root or
user=0 runs it as root, as leaving user empty does.

### Resource names

The resource's name (OCF_RESOURCE_INSTANCE) names the state directory, $HA_RSCTMP/vnfha-vnfc/NAME. A name that
would not stay one directory there (empty, "." or "..", holding "/", a NUL or another control character, or longer
than 255 bytes) is refused before any file is touched: 6 from validate-all (which accepts an empty name, as
crm_resource --validate may give none), start, promote and monitor; stop and demote return 0, since nothing can
run under such a name. Pacemaker's own ids, and a clone's "id:N", always pass.

### Starts that fail leave nothing behind

- The supervisor writes its own identity (pid and start time) to the state directory before it starts anything,
  and the VNFC's before it waits for anything (fsynced, renamed into place). A start that runs out of time, or that
  Pacemaker's executor kills, therefore leaves a record: a probe reads it as failed ("a start did not finish"),
  never as stopped, and the stop that follows ends what it names.
- A start that fails (the VNFC exits, never becomes healthy, its pid file is wrong, the time runs out) stops what it
  started before it returns, in the operation's margin (see docs/agents/README.md), and leaves no state directory.
- The supervisor is a child subreaper: every process the VNFC starts stays below it, even a daemon that left the
  VNFC's process group and session (setsid). Stop sends stop_signal to all of them (its group and everything below
  the supervisor), SIGKILL to what is left after stop_timeout, then has the supervisor kill and reap whatever is
  still below it, and checks that nothing of the VNFC runs. When the VNFC dies on its own, the supervisor kills
  everything below it too. A daemon the VNFC started without pidfile (command=setsid -f ...) is therefore ended with
  it; a command that only daemonizes, without pidfile, exits during start, and start fails.
- A stop fails (and the node is fenced) only if a process of the VNFC survives SIGKILL, which only a process stuck in
  the kernel (state D) does.

### The settle time

A VNFC that ends within settle_time (default 100ms) after it was started fails start, every time, with how it ended:
"the VNFC exited with status 1 during start (pid N)", or "was killed by signal N". Start waits for the VNFC's exit
through a pidfd while it waits for the health check, so the settle time costs nothing when the check takes longer;
without a health check, a start takes settle_time and a few milliseconds (about 106 ms on the test machine, against
9 ms with settle_time=0). A program that exits later, after start returned, is a failure reported at once (fast_fail).
With backend=systemd, a transient unit whose command exited 0 is unloaded by systemd at once, with its exit status:
start then says "the VNFC ended during start".

### Pid files

With pidfile, the command's first process must exit 0 once its daemon has written its pid. A command that stays in
the foreground never does: start fails at its timeout ("pid file ... not written within the start timeout: ... still
runs") and stops it. After the first process has exited, the pid file is read every 10ms for at most 5s. It must be a
regular file holding one decimal pid (blanks around it allowed) of a process below the supervisor; it is read
without blocking and at most 33 bytes of it, so a fifo, a device, /dev/zero or a file of a gigabyte is refused at
once, and nothing of its contents is ever quoted: pidfile=/etc/shadow gives "pid file /etc/shadow holds no pid
(over 32 bytes)". A pid file naming a process the VNFC did not start (a stale file) is waited for, in case the
daemon rewrites it, then refused ("names no process the VNFC started": the pid is not shown). The pid file is read
with the VNFC user's rights and never through a symbolic link, so that a VNFC cannot have root read a file of root's.

### Files the VNFC's user controls

log_file is opened by the agent (as systemd opens StandardOutput=append:), but with the rights of the VNFC's user
(setfsuid, setfsgid and setgroups on a thread of its own) and never through a symbolic link (O_NOFOLLOW): the user
owns the directory it logs to, and must not make root append to or create a file of root's through a symbolic or a
hard link. A new log file belongs to the user. validate-all and start check, as the user, that the program, workdir,
the hooks' and the exec check's programs and the log file (or its directory) can be used; one that cannot gives
OCF_ERR_INSTALLED, naming the directory in the way. log_file and pidfile must be regular files, not symbolic links:
validate-all and start give OCF_ERR_CONFIGURED otherwise. Monitor never looks at them: the user can replace them, and
monitor answers for what runs. With backend=systemd, systemd (PID1) opens log_file as root, its own rule, and the
watcher does too, without following a symbolic link; the log file is then not checked as the user.

### settle_time and the start timeout

When the start timeout, less the agent's margin, ends before settle_time has passed, start fails at once with
"settle_time ... does not fit in the start timeout", whatever the timers do: give start a timeout of settle_time plus
the time the VNFC needs to come up, plus a few seconds.

### CPU priority (nice)

nice gives the VNFC CPU priority as systemd's Nice= gives a service, in a way that works on a kernel that groups
processes by session. On a busy node (a failover wakes Pacemaker's daemons, the load balancer and the clients at
once) a latency-critical VNFC, such as the bridge (vnfha bridge), otherwise waits behind all of them.

- **Every thread at that nice.** Linux keeps a nice per thread, and setpriority(PRIO_PROCESS, pid), which renice
  uses, changes one thread only: a VNFC whose threads already run (a Go program starts them before main) cannot be
  reniced in one call. The supervisor forks the VNFC from a thread of its own that runs at the nice, so that the
  VNFC starts at it, before its first instruction, and every thread and process it creates inherits it.
- **Its own autogroup.** With kernel.sched_autogroup_enabled=1 (the default of most distributions' kernels), the
  scheduler shares the CPU equally among autogroups, one per session, before nice counts, and nice ranks a thread
  only among those of its own session: reniced threads gain nothing against the rest of the node (measured for the
  bridge on 2 cores: nothing). With nice set, the VNFC therefore runs in a session of its own (setsid, where it
  otherwise gets a process group of its own in the supervisor's session; stop still ends that group, whose id is the
  VNFC's pid, and everything below the supervisor), and the supervisor writes the nice to /proc/PID/autogroup, which
  weighs the whole session as one thread of that nice. With pidfile, the daemon's session gets it too. From the
  VNFC's exec to that write, a fraction of a millisecond, its session has the default weight. A process of the VNFC
  that starts a session of its own (setsid) leaves the autogroup, not the nice of its threads.
- **Where there are no autogroups** (a kernel without CONFIG_SCHED_AUTOGROUP, or sched_autogroup_enabled=0, read at
  each start), only the threads' nice is set; a debug line says why. Autogroups apply to processes of the root CPU
  cgroup only: where the CPU controller gives Pacemaker's service a cgroup of its own, nice ranks the VNFC among the
  processes of that cgroup, and the cgroup's weight (CPUWeight=) ranks it against the rest.
- **Asked for, or start fails.** A nice that cannot be set (setpriority or the autogroup write refused, as without
  CAP_SYS_NICE for a negative one) fails start (1) with the reason, and the failed start leaves nothing running.
  nice=0, the default, changes nothing: the VNFC inherits the priority, in the supervisor's session.
- **backend=systemd.** A unit file's unit gets Nice= in the agent's runtime drop-in (the one that sets Restart=no, see
  below; stop removes it), unless its Nice= is that already; a transient unit gets it as a property. systemd starts
  every service in a session of its own and sets no autogroup nice, so start writes the nice to the autogroup of the
  unit's main process as well (not when that process shares the agent's or PID 1's autogroup). A unit already running
  when start takes it over keeps its threads' nice until its next start: start warns.
- **Not enforced.** Monitor does not read the VNFC's nice: one reniced by hand runs on, and its next start sets the
  nice again. Health checks and role hooks run at the agent's priority.

### Promotion scores

In a promotable clone, start sets the instance's promotion score to 5, promote to 10, demote back to 5, and stop
deletes it (crm_attribute --promotion, lifetime reboot), as ocf:pacemaker:Stateful does: every running instance can be
promoted, and the promoted one keeps its role. Scores are transient node attributes: a restart of Pacemaker on a node
(after maintenance mode, for an upgrade, after a crash of the stack) erases them while the VNFC runs on, and an
instance without a score is never promoted. So monitor, probes included (Pacemaker probes every resource on a node
that rejoins), restores the score of a running, healthy instance when the node's attribute manager holds none: 10
when the instance is promoted, 5 otherwise, logged as "promotion score 5 restored by a probe" (or monitor). It asks pacemaker-attrd over its
IPC, one round trip and no program run; only a missing score costs a crm_attribute. (Stateful restores the score in
probes only, and runs crm_attribute in every probe.) The rules:

- A score that is there is left alone, whatever its value: one set by hand (crm_attribute --promotion -v 100) stays
  until the next start, promote or demote sets the agent's own.
- A score deleted by hand comes back at the next monitor: it is the agent's. To keep an instance from being promoted
  on a node, use a location constraint on the Promoted role (pcs constraint location ID-clone rule role=Promoted
  score=-INFINITY '#uname' eq NODE).
- No score is set for an instance that does not run or fails its monitor: the stop of its recovery deletes the score,
  and a probe that finds nothing running sets nothing.
- The role restored is the one the probe reports to Pacemaker (both come from the instance's own record), so the
  score always matches the role Pacemaker learns. A node that left without being fenced (fencing off) may come back
  with its instance still promoted while another was promoted meanwhile: both then hold 10, and Pacemaker, which
  sees two promoted instances, demotes one of them, as with Stateful.
- Pacemaker's executor runs one operation of a resource at a time, so a monitor never overlaps a promote or demote of
  the same instance (it cannot restore 5 while a promote sets 10); the monitor reads the role only once it knows the
  score is missing, just before it sets it. A recurring monitor still running when Pacemaker stops the instance is
  killed first, with its crm_attribute, so the stop's delete comes after any restore.
- A query that fails (attrd restarting or unreachable) or a restore that fails is a warning in the log, never a failed
  monitor; the next monitor tries again. Each is bounded: at most 1s for the query, 5s for the restore, and both end
  with the monitor's own time (its timeout less the agent's margin); a hung attrd costs each monitor that second. A
  monitor killed in the middle of its query leaves nothing behind: attrd removes the connection's files
  under /dev/shm when its client goes (200 queries killed at random moments in the lab left none).
- The agent asks attrd only if the process that serves attrd's socket runs as root or hacluster (or with hacluster's
  group), as Pacemaker's own clients check: libqb's sockets are abstract names that any local user could take while
  Pacemaker is down. Otherwise the query fails ("the server is not Pacemaker's"). The supervisor's report checks the
  controller the same way, and falls back to crm_resource.
- On a host where libqb is told to use filesystem sockets (/etc/libqb/force-filesystem-sockets), the agent cannot
  reach attrd: every monitor warns that the score was not checked ("libqb uses filesystem sockets here"), no score is
  restored, and the supervisor's reports go through crm_resource. Restore a score there by hand, or restart the
  resource.
- On a Pacemaker Remote node (and in a bundle), the query goes to pacemaker-remoted, which passes it on to the attrd
  of the cluster node that holds its connection, with the remote node's name. This has not been tried in the lab,
  which runs no remote nodes. While pacemaker-remoted has no cluster connection it refuses the query, and monitor
  warns as above.

What it costs, measured in the lab (BenchmarkVNFCMonitorScore, medians): a monitor that finds the score takes 1.5 to
3ms longer (7.6ms instead of 6.1ms, 9.1ms instead of 6.7ms in two runs) and costs pacemaker-attrd about 1ms of CPU,
since each query is a connection of its own. The node's one attrd pays that for every monitor of every promotable instance on the node: 20 instances
monitored every 5s cost it some 4ms of CPU a second. A monitor that restores a score takes some 27ms more (the
crm_attribute run), as Stateful's probe does every time.

Stop succeeds once nothing of the VNFC runs, even if crm_attribute fails to delete the promotion score (a warning is
logged; the score has a reboot lifetime). Demote never fails because of the configuration: with invalid or
node-local parameters it skips the demote hook with a warning and still removes the promoted marker and sets the
score; it fails (1) only when the hook ran and failed, or crm_attribute failed.

### https

An https health check or role hook verifies the server's certificate and name (tls_verify=true, the default) against
the system's CAs, or against tls_ca_file. tls_verify=false skips that, for a VNFC with a self-signed certificate and
no CA to give: the check then only asks whether the local process answers.

### What crm_mon shows when a VNFC dies

With fast_fail (the default), the supervisor records the failure at once, through the request crm_resource --fail
sends. Pacemaker records it as a failed operation named asyncmon, and crm_mon shows it as

    * app asyncmon on node2 returned 'error' (Simulated failure) at ...

"Simulated failure" is the exit reason Pacemaker's controller writes for every failure injected this way (it cannot
carry ours); before Pacemaker 2.1.6 the fail count rises by 2, or 1 (see "Fail counts and migration-threshold").
Pacemaker then stops and starts the instance, so no monitor runs in between to say more. How the VNFC ended is in the node's log, where Pacemaker logs (the Pacemaker log
file, or syslog, that Pacemaker names in the agent's environment), tagged with the resource:

    vnfc(app)[PID]:    ERROR: the VNFC (pid 1234) was killed by signal 9 (SIGKILL)
    vnfc(app)[PID]:    INFO: reported the failure of app on node2 to Pacemaker through the controller's IPC

and in log_file, when set. A monitor that runs before the stop (fast_fail=false, or a monitor that came first) says it
in its exit reason, which crm_mon shows:

    * app 10s-interval monitor on node2 returned 'error' (the VNFC was killed by signal 9 (SIGKILL) at 21:08:17.427 (pid 87)) at ...

### Fail counts and migration-threshold

Pacemaker counts the failures of a resource on each node (its fail count, which crm_mon --failcounts shows; all
instances of a clone on a node share one), moves the resource off a node once the count there reaches the
resource's migration-threshold meta attribute (the default, INFINITY, never does), and forgets the whole count once
failure-timeout has passed since its last failure there (the scheduler looks again at that moment by itself).
crm_resource --cleanup clears it. What one crash of the VNFC adds depends on who finds it:

| found by | adds |
|---|---|
| the supervisor's report (fast_fail=true, the default), Pacemaker 2.1.6 and later | 1 |
| the supervisor's report, Pacemaker 2.1.5 and earlier (CRM feature set below 3.17.4) | 2, or 1 (10 of 36 reports in the lab) |
| a recurring monitor: fast_fail=false, a failed health check | 1 |
| a failed start | INFINITY: the node is left at once |

Why 2, or 1: Pacemaker's controller records a reported failure (as it records crm_resource --fail) as one
operation named asyncmon with interval 0, whatever the request names: no other operation or interval can be asked
for. A failed operation of interval 0 is written to the CIB as two history entries, <rsc>_last_0 and
<rsc>_last_failure_0, in one update, and before Pacemaker 2.1.6 the DC asks pacemaker-attrd for one increment of the
fail count per entry (2.1.6 counts an operation from outside the cluster once per update: Pacemaker commit
a457eb83fe). When pacemaker-attrd reads the second increment before its broadcast of the first has come back to it,
both read the same count, and the crash adds 1. Which of the two happens cannot be told in advance. A monitor that
happens to run in the instant between a crash and its recovery adds 1 more.

The supervisor's line in the node's log says which applies: "reported the failure of app on node2 to Pacemaker
through the controller's IPC; fail count +1", or "...; Pacemaker before 2.1.6 adds 2 to the fail count for it, or 1
when its two increments race".

To restart the VNFC in place and leave the node at its k-th crash (k crashes, none more than failure-timeout after
the one before), set:

| Pacemaker | set | the node is left at |
|---|---|---|
| any | migration-threshold=1 (k=1) | the first crash |
| 2.1.6 and later | migration-threshold=k failure-timeout=10min | the k-th crash |
| 2.1.5 and earlier, exactly | fast_fail=false, a short monitor interval (op monitor interval=2s), migration-threshold=k failure-timeout=10min | the k-th crash, found up to one monitor interval later |
| 2.1.5 and earlier, fast_fail=true | migration-threshold=2k-1 failure-timeout=10min | the k-th crash if at most one of the k was counted once, a later one otherwise (the (2k-1)-th at the latest); an earlier one only if a monitor counted one of them too |

For example, with Pacemaker 2.1.5, to leave a node at the third crash within 10 minutes, counted exactly:

    pcs resource create app ocf:vnfha:vnfc command="/usr/bin/vnfcd --listen :8080" fast_fail=false \
        op monitor interval=2s meta migration-threshold=3 failure-timeout=10min

or, reported at once, not before the third crash: fast_fail=true and migration-threshold=5. With Pacemaker 2.1.6 or
later, fast_fail=true and migration-threshold=3. A monitor without a health check starts no process of its own
(exec-time 9-11ms in the lab's CIB), so a 2s interval is cheap. TestVNFCFailCountThreshold (test/e2e) checks the
rows in a lab.

### Logs

Warnings and errors of an action go to its stderr, which Pacemaker's executor puts in its log; routine lines
("started") go to the node's log as info. The supervisor and the unit watcher outlive the action, so their lines go to
the node's log and to log_file. A value from a parameter or a file is quoted at most 32 bytes long in any reason or
log line.

### backend=systemd: what systemd does behind the cluster's back

- **Which units.** unit must name a service (.service): stopping a target, a slice or a socket stops what depends on
  it (unit=sysinit.target would stop every service of the node), and only a service has the main process and restarts
  the agent follows. The cluster stack's own units (pacemaker, pacemaker_remote, corosync, corosync-qdevice,
  corosync-qnetd, sbd, pcsd), dbus and systemd-* are refused too. Such a unit is 6 from validate-all, start and
  monitor, and stop returns 0 without touching it. An alias (a symbolic link to another unit file), a template's
  instance (vnfc@a.service) and systemd's escapes (\x2d) work: the agent follows the unit under its own name. A
  unit that is not found on this node, is masked or does not load gives 5 (OCF_ERR_INSTALLED) from validate-all and
  start, so that Pacemaker tries another node; so does a node not booted with systemd. A probe says 7 for both. Run
  one resource per unit on a node: a second one's stop stops the first one's unit.
- **daemon-reload and daemon-reexec are no failure.** A reload keeps every connection to systemd; a re-execution
  (systemctl daemon-reexec, a systemd upgrade) closes every connection to its private socket for a moment. The unit
  watcher connects again (through the system bus if the private socket does not answer yet), for at most 30s, and reads
  the unit's state anew: a VNFC that died while it was not connected is reported then. Every action asks again on a new
  connection within its own timeout, so a monitor that meets a re-execution waits for it instead of failing a VNFC that
  runs. A watcher that cannot connect again within 30s logs that the VNFC runs unwatched and tries again every 5s for as
  long as the resource is started; meanwhile monitor, which asks systemd itself, finds a failure at its interval. A
  monitor that cannot reach systemd for 10s fails (1): a node whose systemd does not answer cannot say what runs.
- **Restart= is the cluster's.** A unit with its own Restart= (anything but no), or a RestartForceExitStatus= (which
  restarts it whatever Restart= says), would be restarted by systemd behind Pacemaker's back: a crash would never count
  as one, so neither the fail count and migration-threshold nor the recovery Pacemaker would choose would ever see it.
  Start does what Pacemaker's own systemd class does (its 50-pacemaker.conf): it writes the runtime drop-in
  /run/systemd/system/UNIT.d/zz-vnfha-vnfc.conf (UNIT: the unit's own name, also when unit names an alias) with
  Restart=no and an empty RestartForceExitStatus= (and Nice=, with nice set: see "CPU priority"), and reloads systemd
  before it starts the unit; stop removes it, and
  the directory if start made it and it is empty, and reloads again, so the unit has its own Restart= when the cluster
  no longer runs it. The drop-in is recorded before it is written, so the stop after a start that was killed half-way
  removes it too, and stop never removes anything else: an operator's drop-ins and directories stay. Each reload
  took 5-10ms on the test machine's small systemd; a host with many units reloads slower. A unit with Restart=no, the
  usual case, costs nothing more. The file name sorts after the usual drop-ins and override.conf (systemctl edit),
  which would undo it otherwise. If an operator's drop-in that sorts even later still sets Restart=, start warns
  ("keeps Restart=always") and goes on. Whatever restarts the unit, it is a failure: start records the unit's
  InvocationID, which systemd draws anew for each run of the unit, and NRestarts; a new run (a restart by systemd, a
  systemctl restart by hand) is reported by the watcher and found by monitor even when the new process runs
  ("restarted by systemd 1 time(s) since start (Restart=always)", "started anew since start, not by the cluster").
  Such a unit is not refused: Restart= is a unit's setting on one node, often a vendor's default, and the agent can
  make it right.
- **A unit the cluster did not start.** A unit that runs when no start of the resource started it on this node
  (systemctl start by hand, or enabled at boot) runs, as a probe must say, but monitor says 190 (degraded): nothing
  watches it and its own Restart= applies. A start takes it over without restarting it (drop-in, watcher); so does
  restarting the resource.
- **A unit stuck starting or stopping.** Start waits for the start job until its timeout less the agent's margin. A
  unit still activating then (a Type=notify service that never sends READY=1, an ExecStartPre= that does not return)
  fails start with the state it is stuck in ("unit app.service is still activating (start-pre) at the start
  timeout"), and the failed start stops it. Stop lets systemd stop the unit its own way (ExecStop=, KillSignal=, the
  unit's TimeoutStopSec=) for at most stop_timeout, cut so that 2s (or half of the time left, if less) remain of the
  stop's time (its timeout less the agent's margin); then it sends SIGKILL to every process of the unit (systemctl
  kill --signal=KILL, whatever its KillMode=), again every 50ms while systemd starts more (ExecStopPost=), until the
  unit is inactive or failed and its cgroup is empty, and resets a failed unit. Stop leaves nothing of the VNFC
  running: processes that systemd leaves in the cgroup of a unit it stopped (KillMode=process leaves the main
  process's children, KillMode=none every process) get the unit's KillSignal= for what is left of that time, then
  SIGKILL; so does every process of a unit whose stop systemd refuses (RefuseManualStop=yes), rather than a failed
  stop and a fenced node. Each of these is a warning in stop's log. Stop fails only if the unit is still up after
  SIGKILL: a process stuck in the kernel.

### Limits

If the supervisor itself is killed, monitor reports 190 (degraded) and the VNFC runs unsupervised until a restart;
a stop then still ends the VNFC's process group, but no longer finds processes that left it.
`
