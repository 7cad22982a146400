package vnfc

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/ocf"
)

// Backends: where the VNFC process runs.
const (
	backendProcess = "process" // a child of our own supervisor
	backendSystemd = "systemd" // a systemd unit, over D-Bus
)

// config is the checked form of the agent's parameters. parseConfig fills
// it from the parameters alone, with no look at the system, so that it can
// be fuzzed; resolve then looks up what depends on the node (the binary,
// the user).
type config struct {
	argv        []string // command, split by splitWords
	user, group string
	workdir     string
	env         []string // NAME=value, from environment
	pidfile     string
	stopSignal  syscall.Signal
	stopTimeout time.Duration
	settle      time.Duration // settle_time
	health      *probe        // nil: no health check
	logFile     string
	backend     string
	unit        string
	promote     *hook // nil: no promote hook
	demote      *hook
	fastFail    bool
	tlsVerify   bool   // tls_verify
	caFile      string // tls_ca_file
	nice        int    // -20..19; 0: the priority the VNFC inherits

	// The instance and node, for the VNFC's environment.
	instance, node string
	// agent is the agent that runs the process: empty for a VNFC, set by
	// Process for another agent's.
	agent string

	// Set by resolve.
	path string      // the executable argv[0] resolves to
	cred *credential // nil: run as the agent's own user (root)
	home string      // the user's home, for HOME
}

// credential is who the VNFC runs as.
type credential struct {
	uid, gid uint32
	groups   []uint32
	name     string
}

// hook is a promote or demote action: a command or an HTTP POST.
type hook struct {
	argv []string // a command; nil for an HTTP hook
	url  *url.URL
}

// String names the hook in exit reasons and logs, cut as probe.String
// cuts a check.
func (h *hook) String() string {
	if h.url != nil {
		return "POST " + ocf.Truncate(h.url.Redacted(), shownMax)
	}
	return ocf.Truncate(ocf.OneLine(strings.Join(h.argv, " ")), shownMax)
}

// shownMax bounds how much of a URL or a command line a reason shows.
const shownMax = 48

// stringParams are the agent's parameters of type string (a test keeps the
// list equal to the declaration's).
var stringParams = []string{"command", "user", "group", "workdir", "environment", "pidfile", "stop_signal",
	"health", "log_file", "backend", "unit", "promote_command", "demote_command", "tls_ca_file"}

// configFor parses the parameters of req, without resolving them.
func configFor(req *ocf.Request) (*config, error) {
	c, err := parseConfig(req.Params)
	if err != nil {
		return nil, err
	}
	c.instance, c.node = req.Env.Instance, req.Env.OnNode
	return c, nil
}

// parseConfig checks the parameters' syntax. Its errors are configuration
// errors: the same on every node.
func parseConfig(p ocf.Params) (*config, error) {
	c := &config{
		user:        p.String("user"),
		group:       p.String("group"),
		workdir:     p.String("workdir"),
		pidfile:     p.String("pidfile"),
		stopTimeout: p.Duration("stop_timeout"),
		settle:      p.Duration("settle_time"),
		logFile:     p.String("log_file"),
		backend:     p.String("backend"),
		unit:        p.String("unit"),
		fastFail:    p.Bool("fast_fail"),
	}
	var err error
	// No value can hold a NUL: Pacemaker passes C strings, so only a caller
	// other than Pacemaker can, and exec would refuse it much later.
	for _, name := range stringParams {
		if strings.ContainsRune(p.String(name), 0) {
			return nil, fmt.Errorf("%s holds a NUL byte", name)
		}
	}
	switch c.backend {
	case backendProcess, backendSystemd:
	default:
		return nil, fmt.Errorf("backend must be %s or %s, not %s", backendProcess, backendSystemd, ocf.Quote(c.backend))
	}
	if s := p.String("command"); s != "" {
		if c.argv, err = splitWords(s); err != nil {
			return nil, fmt.Errorf("command: %w", err)
		}
	}
	if len(c.argv) > 0 && c.argv[0] == "" {
		return nil, errors.New("command is required, and its program may not be empty")
	}
	switch {
	case len(c.argv) == 0 && c.backend == backendProcess:
		return nil, errors.New("command is required with backend=process")
	case len(c.argv) == 0 && c.unit == "":
		return nil, errors.New("backend=systemd needs unit, command, or both")
	}
	if c.unit != "" {
		if c.backend != backendSystemd {
			return nil, errors.New("unit is only for backend=systemd")
		}
		if err := checkUnitName(c.unit); err != nil {
			return nil, err
		}
	}
	if s := p.String("environment"); s != "" {
		words, err := splitWords(s)
		if err != nil {
			return nil, fmt.Errorf("environment: %w", err)
		}
		for _, w := range words {
			name, _, ok := strings.Cut(w, "=")
			if !ok || !validEnvName(name) {
				return nil, fmt.Errorf("environment: %s is not NAME=value", ocf.Quote(w))
			}
		}
		c.env = words
	}
	for _, f := range []struct{ name, v string }{{"workdir", c.workdir}, {"pidfile", c.pidfile}, {"log_file", c.logFile}} {
		if f.v != "" && !filepath.IsAbs(f.v) {
			return nil, fmt.Errorf("%s must be an absolute path, not %s", f.name, ocf.Quote(f.v))
		}
	}
	if c.pidfile != "" && c.backend != backendProcess {
		return nil, errors.New("pidfile is only for backend=process; systemd reads PIDFile= from the unit")
	}
	if c.stopSignal, err = parseSignal(p.String("stop_signal")); err != nil {
		return nil, err
	}
	if c.stopTimeout <= 0 || c.stopTimeout > maxStopTimeout {
		return nil, fmt.Errorf("stop_timeout must be more than 0 and at most %s", maxStopTimeout)
	}
	if c.settle < 0 || c.settle > maxSettle {
		return nil, fmt.Errorf("settle_time must be 0 to %s", maxSettle)
	}
	if c.health, err = parseProbe(p.String("health"), p.Duration("health_timeout")); err != nil {
		return nil, err
	}
	if c.promote, err = parseHook("promote_command", p.String("promote_command")); err != nil {
		return nil, err
	}
	if c.demote, err = parseHook("demote_command", p.String("demote_command")); err != nil {
		return nil, err
	}
	c.tlsVerify, c.caFile = p.Bool("tls_verify"), p.String("tls_ca_file")
	if c.caFile != "" && !filepath.IsAbs(c.caFile) {
		return nil, fmt.Errorf("tls_ca_file must be an absolute path, not %s", ocf.Quote(c.caFile))
	}
	// The kernel would clamp a value out of range without a word (and
	// systemd refuses the unit): a typo must not run the VNFC at a
	// priority nobody asked for.
	n := p.Int("nice")
	if n < minNice || n > maxNice {
		return nil, fmt.Errorf("nice=%d is out of range %d..%d", n, minNice, maxNice)
	}
	c.nice = int(n)
	return c, nil
}

// The range of a nice value, setpriority(2)'s and systemd's Nice='s.
const (
	minNice = -20
	maxNice = 19
)

// Upper bounds of the time parameters: beyond them a value is a typo (a
// unit forgotten: "20" is seconds, "20000" is five hours), and a bound
// keeps every wait of the agent finite.
const (
	maxStopTimeout   = time.Hour
	maxSettle        = time.Minute
	maxHealthTimeout = 10 * time.Minute
)

// validEnvName accepts what a shell accepts as a variable name.
func validEnvName(s string) bool {
	if s == "" || s[0] >= '0' && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// parseSignal accepts TERM, SIGTERM or 15.
func parseSignal(s string) (syscall.Signal, error) {
	var sig syscall.Signal
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("stop_signal %d is out of range", n)
		}
		sig = syscall.Signal(n)
	} else {
		name := strings.ToUpper(s)
		if !strings.HasPrefix(name, "SIG") {
			name = "SIG" + name
		}
		if sig = unix.SignalNum(name); sig == 0 {
			return 0, fmt.Errorf("stop_signal %s is not a signal name or number", ocf.Quote(s))
		}
	}
	if sig == syscall.SIGSTOP {
		// It cannot be caught and ends nothing: every stop would wait for
		// stop_timeout, then SIGKILL.
		return 0, errors.New("stop_signal STOP cannot ask a process to stop")
	}
	return sig, nil
}

// parseHook reads promote_command or demote_command: an http:// or
// https:// URL to POST to, or a command.
func parseHook(name, s string) (*hook, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	if strings.HasPrefix(s, "http://") || strings.HasPrefix(s, "https://") {
		u, err := parseHTTPURL(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		return &hook{url: u}, nil
	}
	argv, err := splitWords(s)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if len(argv) == 0 {
		return nil, nil
	}
	if !filepath.IsAbs(argv[0]) {
		return nil, fmt.Errorf("%s: %s must be an absolute path", name, ocf.Quote(argv[0]))
	}
	return &hook{argv: argv}, nil
}

// parseHTTPURL accepts an absolute http or https URL with a host, and a
// port if one is given.
func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		// url's errors quote the whole URL: only a few bytes of it here.
		return nil, fmt.Errorf("%s is not a valid URL", ocf.Quote(s))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%s is not an http or https URL", ocf.Quote(s))
	}
	if u.User != nil {
		return nil, fmt.Errorf("%s carries credentials, which would be logged; not supported", ocf.Quote(u.Redacted()))
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%s has no host", ocf.Quote(s))
	}
	if err := checkHost(u.Hostname()); err != nil {
		return nil, fmt.Errorf("%s: %w", ocf.Quote(s), err)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%s has an invalid port", ocf.Quote(s))
		}
	}
	return u, nil
}

// checkHostPort accepts host:port with a port in 1-65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		// net's errors quote the whole address: the cause alone.
		var ae *net.AddrError
		if errors.As(err, &ae) {
			return errors.New(ae.Err)
		}
		return errors.New("not host:port")
	}
	if host == "" {
		return errors.New("no host")
	}
	if err := checkHost(host); err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid port %s", ocf.Quote(port))
	}
	return nil
}

// checkHost accepts an IP address or a host name as DNS allows one: at
// most 253 bytes, labels of 1 to 63 letters, digits, hyphens and
// underscores. Anything else would be resolved (or refused) only when the
// first check runs, on every monitor.
func checkHost(h string) error {
	if net.ParseIP(h) != nil {
		return nil
	}
	if len(h) > 253 {
		return errors.New("host name longer than 253 bytes")
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return errors.New("invalid host name")
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return errors.New("invalid host name")
			}
		}
	}
	return nil
}

// resolve looks up what the configuration names on this node. A missing
// binary, directory or log directory is ErrNotInstalled, so that Pacemaker
// bans the resource from this node only; an unknown user or group, or a
// path that names the wrong kind of file (log_file=/tmp), is
// ErrNotConfigured. validate-all and start both run it, so that they never
// disagree.
func (c *config) resolve() error {
	if c.user != "" || c.group != "" {
		cred, home, err := lookupCredential(c.user, c.group)
		if err != nil {
			return ocf.NotConfigured("%v", err)
		}
		c.cred, c.home = cred, home
	}
	if len(c.argv) > 0 {
		path, err := lookPath(c.argv[0])
		if err != nil {
			return ocf.NotInstalled("command: %v", err)
		}
		c.path = path
	}
	if c.workdir != "" {
		if fi, err := os.Stat(c.workdir); err != nil || !fi.IsDir() {
			return ocf.NotInstalled("workdir %s is not a directory on this node", show(c.workdir))
		}
	}
	if err := c.checkFileKinds(); err != nil {
		return err
	}
	if c.logFile != "" {
		if fi, err := os.Stat(filepath.Dir(c.logFile)); err != nil || !fi.IsDir() {
			return ocf.NotInstalled("log_file: directory %s does not exist on this node", show(filepath.Dir(c.logFile)))
		}
	}
	for _, h := range []*hook{c.promote, c.demote} {
		if h != nil && h.argv != nil {
			if _, err := lookPath(h.argv[0]); err != nil {
				return ocf.NotInstalled("role hook: %v", err)
			}
		}
	}
	if c.health != nil && c.health.argv != nil {
		if _, err := lookPath(c.health.argv[0]); err != nil {
			return ocf.NotInstalled("health: %v", err)
		}
	}
	if err := c.checkUserAccess(); err != nil {
		return err
	}
	if _, err := c.tlsConfig(); err != nil {
		return err
	}
	return nil
}

// checkUserAccess checks, with the rights of the user the VNFC runs as,
// what start and the hooks will use as that user: the program, workdir,
// the hooks' and the exec check's programs, and the log file (opened with
// the user's rights: openLog). Without it, a user who cannot reach them
// passes validate-all and fails every start, on every node, with a reason
// that names the program rather than the directory in the way. A
// permission is the node's state, like a missing file: ErrNotInstalled.
// With backend=systemd, systemd runs the command and opens the log file
// as root (its own rule), so neither is checked.
func (c *config) checkUserAccess() error {
	if c.cred == nil {
		return nil
	}
	check := func(what, path string, mode uint32) error {
		if err := checkAccess(c.cred, path, mode); err != nil {
			return ocf.NotInstalled("%s: user %s %v", what, ocf.Quote(c.cred.name), err)
		}
		return nil
	}
	if c.path != "" && c.backend == backendProcess {
		if err := check("command", c.path, unix.X_OK); err != nil {
			return err
		}
	}
	if c.workdir != "" && c.backend == backendProcess {
		if err := check("workdir", c.workdir, unix.X_OK); err != nil {
			return err
		}
	}
	for _, h := range []*hook{c.promote, c.demote} {
		if h != nil && h.argv != nil {
			path, _ := lookPath(h.argv[0])
			if err := check("role hook", path, unix.X_OK); err != nil {
				return err
			}
		}
	}
	if c.health != nil && c.health.argv != nil {
		path, _ := lookPath(c.health.argv[0])
		if err := check("health", path, unix.X_OK); err != nil {
			return err
		}
	}
	if c.logFile != "" && c.backend == backendProcess {
		if _, err := os.Lstat(c.logFile); err == nil {
			return check("log_file", c.logFile, unix.W_OK)
		}
		return check("log_file", filepath.Dir(c.logFile), unix.W_OK|unix.X_OK)
	}
	return nil
}

// checkFileKinds refuses log_file and pidfile when they name something
// other than a regular file: validate-all and start run it, monitor does
// not. The VNFC's user can replace either file with a fifo or a directory;
// monitor answers for what runs, not for what the user did to its files.
func (c *config) checkFileKinds() error {
	for _, f := range []struct{ name, path string }{{"log_file", c.logFile}, {"pidfile", c.pidfile}} {
		if f.path != "" {
			if err := checkFileParam(f.name, f.path); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkFileParam refuses a path parameter that names something other than
// a regular file, when it exists: a directory, a fifo (opening it would
// wait for a writer), a device. What does not exist yet is for the VNFC or
// the supervisor to create.
//
// A symbolic link is refused too: the log file is opened without
// following one (openLog), since the VNFC's user could point it at any
// file of root's.
func checkFileParam(name, path string) error {
	fi, err := os.Lstat(path)
	switch {
	case err != nil:
		return nil
	case fi.Mode()&os.ModeSymlink != 0:
		return ocf.NotConfigured("%s %s is a symbolic link", name, show(path))
	case fi.IsDir():
		return ocf.NotConfigured("%s %s is a directory", name, show(path))
	case !fi.Mode().IsRegular():
		return ocf.NotConfigured("%s %s is not a regular file", name, show(path))
	}
	return nil
}

// searchPath is where a command without a slash is looked for. It is fixed,
// not the agent's PATH, so that the VNFC found does not depend on how
// Pacemaker was started.
const searchPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// lookPath finds an executable regular file.
func lookPath(name string) (string, error) {
	if strings.Contains(name, "/") {
		if !filepath.IsAbs(name) {
			return "", fmt.Errorf("%s: a path must be absolute", ocf.Quote(name))
		}
		return name, checkExecutable(name)
	}
	for _, dir := range filepath.SplitList(searchPath) {
		p := filepath.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in the search path", ocf.Quote(name))
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", show(path), errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", show(path))
	}
	return nil
}

// accounts is where user and group names are looked up: os/user, which
// a test replaces to feed entries /etc/passwd should never hold.
type accounts struct {
	lookupUser    func(name string) (*user.User, error)
	lookupUserID  func(uid string) (*user.User, error)
	lookupGroup   func(name string) (*user.Group, error)
	lookupGroupID func(gid string) (*user.Group, error)
	groupIDs      func(u *user.User) ([]string, error)
}

// system is the node's own accounts.
var system = accounts{
	lookupUser:    user.Lookup,
	lookupUserID:  user.LookupId,
	lookupGroup:   user.LookupGroup,
	lookupGroupID: user.LookupGroupId,
	groupIDs:      (*user.User).GroupIds,
}

// lookupCredential resolves user and group names or numbers. With only a
// user, the group is the user's primary group and the supplementary groups
// are the user's; with only a group, the user stays root.
//
// The agent is built without cgo, so os/user reads /etc/passwd and
// /etc/group: users from NSS modules (LDAP, sssd) are not found. A VNFC's
// service account belongs in the local files anyway, so that it starts with
// the directory service down.
func lookupCredential(userName, groupName string) (*credential, string, error) {
	return system.credential(userName, groupName)
}

// credential is lookupCredential over a. It fails closed: an id that does
// not parse as a 32-bit number, or supplementary groups that cannot be
// read, are errors, never root or no groups.
func (a accounts) credential(userName, groupName string) (*credential, string, error) {
	cred := &credential{name: "root"}
	home := "/root"
	if userName != "" {
		u, err := a.user(userName)
		if err != nil {
			return nil, "", err
		}
		uid, err := parseID(u.Uid)
		if err != nil {
			return nil, "", fmt.Errorf("user %s has uid %s: %w", ocf.Quote(userName), ocf.Quote(u.Uid), err)
		}
		gid, err := parseID(u.Gid)
		if err != nil {
			return nil, "", fmt.Errorf("user %s has primary gid %s: %w", ocf.Quote(userName), ocf.Quote(u.Gid), err)
		}
		cred.uid, cred.gid, cred.name, home = uid, gid, u.Username, u.HomeDir
		ids, err := a.groupIDs(u)
		if err != nil {
			return nil, "", fmt.Errorf("read the groups of user %s: %w", ocf.Quote(userName), err)
		}
		for _, id := range ids {
			n, err := parseID(id)
			if err != nil {
				return nil, "", fmt.Errorf("user %s is in group %s: %w", ocf.Quote(userName), ocf.Quote(id), err)
			}
			cred.groups = append(cred.groups, n)
		}
	}
	if groupName != "" {
		g, err := a.lookupGroup(groupName)
		if err != nil {
			if g, err = a.lookupGroupID(groupName); err != nil {
				return nil, "", fmt.Errorf("unknown group %s", ocf.Quote(groupName))
			}
		}
		gid, err := parseID(g.Gid)
		if err != nil {
			return nil, "", fmt.Errorf("group %s has gid %s: %w", ocf.Quote(groupName), ocf.Quote(g.Gid), err)
		}
		cred.gid = gid
	}
	return cred, home, nil
}

// parseID reads a uid or gid: a decimal number below 2^32-1, which is
// (uid_t)-1, the "no change" value of setresuid.
func parseID(s string) (uint32, error) {
	n, err := strconv.ParseUint(s, 10, 32)
	if err != nil || n == 1<<32-1 {
		return 0, errors.New("not a valid id")
	}
	return uint32(n), nil
}

// user finds a user by name, else by uid.
func (a accounts) user(name string) (*user.User, error) {
	u, err := a.lookupUser(name)
	if err == nil {
		return u, nil
	}
	if _, numErr := parseID(name); numErr == nil {
		if u, err := a.lookupUserID(name); err == nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("unknown user %s", ocf.Quote(name))
}
