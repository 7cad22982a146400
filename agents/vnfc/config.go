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

	"github.com/vnfha/vnfha/internal/systemd"
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

	// The instance and node, for the VNFC's environment.
	instance, node string

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

func (h *hook) String() string {
	if h.url != nil {
		return "POST " + h.url.Redacted()
	}
	return strings.Join(h.argv, " ")
}

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
	switch c.backend {
	case backendProcess, backendSystemd:
	default:
		return nil, fmt.Errorf("backend must be %s or %s, not %q", backendProcess, backendSystemd, c.backend)
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
		check := systemd.CheckName
		if len(c.argv) > 0 {
			check = systemd.CheckTransientName
		}
		if err := check(c.unit); err != nil {
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
				return nil, fmt.Errorf("environment: %q is not NAME=value", w)
			}
		}
		c.env = words
	}
	for _, f := range []struct{ name, v string }{{"workdir", c.workdir}, {"pidfile", c.pidfile}, {"log_file", c.logFile}} {
		if f.v != "" && !filepath.IsAbs(f.v) {
			return nil, fmt.Errorf("%s must be an absolute path, not %q", f.name, f.v)
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
	return c, nil
}

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
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("stop_signal %d is out of range", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("stop_signal %q is not a signal name or number", s)
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
		return nil, fmt.Errorf("%s: %q must be an absolute path", name, argv[0])
	}
	return &hook{argv: argv}, nil
}

// parseHTTPURL accepts an absolute http or https URL with a host, and a
// port if one is given.
func parseHTTPURL(s string) (*url.URL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return nil, err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("%q is not an http or https URL", s)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%q has no host", s)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return nil, fmt.Errorf("%q has an invalid port", s)
		}
	}
	if u.User != nil {
		return nil, fmt.Errorf("%q carries credentials, which would be logged; not supported", u.Redacted())
	}
	return u, nil
}

// checkHostPort accepts host:port with a port in 1-65535.
func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if host == "" {
		return errors.New("no host")
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("invalid port %q", port)
	}
	return nil
}

// resolve looks up what the configuration names on this node. A missing
// binary, directory or log directory is ErrNotInstalled, so that Pacemaker
// bans the resource from this node only; an unknown user or group is
// ErrNotConfigured.
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
			return ocf.NotInstalled("workdir %s is not a directory on this node", c.workdir)
		}
	}
	if c.logFile != "" {
		if fi, err := os.Stat(filepath.Dir(c.logFile)); err != nil || !fi.IsDir() {
			return ocf.NotInstalled("log_file: directory %s does not exist on this node", filepath.Dir(c.logFile))
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
			return "", fmt.Errorf("%q: a path must be absolute", name)
		}
		return name, checkExecutable(name)
	}
	for _, dir := range filepath.SplitList(searchPath) {
		p := filepath.Join(dir, name)
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%q not found in %s", name, searchPath)
}

func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("%s: %w", path, errors.Unwrap(err))
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", path)
	}
	return nil
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
	cred := &credential{name: "root"}
	home := "/root"
	if userName != "" {
		u, err := lookupUser(userName)
		if err != nil {
			return nil, "", err
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		cred.uid, cred.gid, cred.name, home = uint32(uid), uint32(gid), u.Username, u.HomeDir
		if ids, err := u.GroupIds(); err == nil {
			for _, id := range ids {
				if n, err := strconv.ParseUint(id, 10, 32); err == nil {
					cred.groups = append(cred.groups, uint32(n))
				}
			}
		}
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			if g, err = user.LookupGroupId(groupName); err != nil {
				return nil, "", fmt.Errorf("unknown group %q", groupName)
			}
		}
		gid, _ := strconv.ParseUint(g.Gid, 10, 32)
		cred.gid = uint32(gid)
	}
	return cred, home, nil
}

func lookupUser(name string) (*user.User, error) {
	u, err := user.Lookup(name)
	if err == nil {
		return u, nil
	}
	if _, numErr := strconv.ParseUint(name, 10, 32); numErr == nil {
		if u, err := user.LookupId(name); err == nil {
			return u, nil
		}
	}
	return nil, fmt.Errorf("unknown user %q", name)
}
