package checkpoint

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/ocf"
)

// Defaults of the parameters that are not plain constants in the
// declaration.
const (
	defaultBinary    = "/usr/bin/vnfha"
	defaultReplPort  = 7420
	defaultKeyFile   = "/etc/corosync/authkey"
	defaultSocketDir = "/run/vnfha/checkpoint"
	// peersNone is the peers value of a store with one replica.
	peersNone = "none"
	// maxSyncTimeout bounds sync_timeout: a standby that takes longer to
	// acknowledge holds every write that long.
	maxSyncTimeout = time.Minute
	// maxValueLimit bounds max_value: a checkpoint is a VNFC's state, and
	// a value is held in memory on its way to every replica.
	maxValueLimit   = 64 << 20
	maxSyncReplicas = 64
	minSyncTimeout  = time.Millisecond
)

// config is the checked form of the parameters. parseConfig fills it from
// the parameters alone (the framework's Check: the same on every node);
// resolve adds what depends on the node (corosync.conf's nodelist, the
// group's id).
type config struct {
	dataDir      string
	binary       string
	replPort     int
	replAddress  string            // "" until resolve: corosync.conf's ring0_addr of this node
	peers        map[string]string // node → host:port; nil until resolve when defaulted
	peersSet     bool              // peers given (or "none")
	keyFile      string
	tlsCert      string
	tlsKey       string
	tlsCA        string
	socket       string
	socketMode   os.FileMode
	socketGroup  string
	apiListen    string
	apiTokenFile string
	syncReplicas int
	syncMode     string
	syncTimeout  time.Duration
	maxValue     int64
	logFile      string

	// The resource (the instance without a clone's ":N"), which names
	// the marks, and this node's name.
	resource, instance, node string
}

// stringParams are the parameters of type string (a test keeps the list
// equal to the declaration's).
var stringParams = []string{"data_dir", "binary", "repl_address", "peers", "key_file", "tls_cert", "tls_key", "tls_ca",
	"socket", "socket_mode", "socket_group", "api_listen", "api_token_file", "sync_mode", "log_file"}

// resourceOf is the resource's name for an instance: a clone instance
// ("ckpt:1") without its number. The marks, the epoch floor and the
// socket are the resource's, shared by its instances.
func resourceOf(instance string) string {
	if i := strings.LastIndexByte(instance, ':'); i > 0 {
		if _, err := strconv.ParseUint(instance[i+1:], 10, 32); err == nil {
			return instance[:i]
		}
	}
	return instance
}

// configFor parses the parameters of req, without resolving them.
func configFor(req *ocf.Request) (*config, error) {
	c, err := parseConfig(req.Params, req.Env.Instance)
	if err != nil {
		return nil, err
	}
	c.node = req.Env.OnNode
	return c, nil
}

// parseConfig checks the parameters' syntax. Its errors are configuration
// errors: the same on every node.
func parseConfig(p ocf.Params, instance string) (*config, error) {
	c := &config{
		dataDir:      p.String("data_dir"),
		binary:       p.String("binary"),
		replAddress:  p.String("repl_address"),
		keyFile:      p.String("key_file"),
		tlsCert:      p.String("tls_cert"),
		tlsKey:       p.String("tls_key"),
		tlsCA:        p.String("tls_ca"),
		socket:       p.String("socket"),
		socketGroup:  p.String("socket_group"),
		apiListen:    p.String("api_listen"),
		apiTokenFile: p.String("api_token_file"),
		syncMode:     p.String("sync_mode"),
		syncTimeout:  p.Duration("sync_timeout"),
		logFile:      p.String("log_file"),
		instance:     instance,
		resource:     resourceOf(instance),
	}
	for _, name := range stringParams {
		if strings.ContainsRune(p.String(name), 0) {
			return nil, fmt.Errorf("%s holds a NUL byte", name)
		}
	}
	if c.dataDir == "" {
		return nil, errors.New("data_dir is required")
	}
	for _, f := range []struct{ name, path string }{
		{"data_dir", c.dataDir}, {"binary", c.binary}, {"key_file", c.keyFile}, {"tls_cert", c.tlsCert},
		{"tls_key", c.tlsKey}, {"tls_ca", c.tlsCA}, {"socket", c.socket}, {"api_token_file", c.apiTokenFile},
		{"log_file", c.logFile},
	} {
		if f.path == "" {
			continue
		}
		if !filepath.IsAbs(f.path) {
			return nil, fmt.Errorf("%s must be an absolute path, not %s", f.name, ocf.Quote(f.path))
		}
		if filepath.Clean(f.path) == "/" {
			return nil, fmt.Errorf("%s cannot be /", f.name)
		}
	}
	if c.binary == "" {
		return nil, errors.New("binary may not be empty")
	}
	port := p.Int("repl_port")
	if port < 1 || port > 65535 {
		return nil, fmt.Errorf("repl_port must be 1-65535, not %d", port)
	}
	c.replPort = int(port)
	if c.replAddress != "" {
		if err := checkHost(c.replAddress); err != nil {
			return nil, fmt.Errorf("repl_address %w", err)
		}
	}
	switch s := strings.TrimSpace(p.String("peers")); s {
	case "":
	case peersNone:
		c.peersSet, c.peers = true, map[string]string{}
	default:
		peers, err := parsePeers(s)
		if err != nil {
			return nil, fmt.Errorf("peers: %w", err)
		}
		c.peersSet, c.peers = true, peers
	}
	if c.keyFile == "" {
		c.keyFile = defaultKeyFile
	}
	if n := nonEmpty(c.tlsCert, c.tlsKey, c.tlsCA); n != 0 && n != 3 {
		return nil, errors.New("tls_cert, tls_key and tls_ca go together: set all three, or none for key_file")
	}
	mode, err := strconv.ParseUint(strings.TrimSpace(p.String("socket_mode")), 8, 32)
	if err != nil || mode > 0o777 || mode&0o600 != 0o600 {
		return nil, fmt.Errorf("socket_mode must be octal permissions that let the owner read and write, such as 0660, not %s", ocf.Quote(p.String("socket_mode")))
	}
	c.socketMode = os.FileMode(mode)
	if c.socketGroup != "" && (strings.ContainsAny(c.socketGroup, " \t\n:/") || len(c.socketGroup) > 64) {
		return nil, fmt.Errorf("socket_group %s is no group name or id", ocf.Quote(c.socketGroup))
	}
	if c.apiListen != "" {
		if err := checkHostPort(c.apiListen, true); err != nil {
			return nil, fmt.Errorf("api_listen %w", err)
		}
	}
	if c.apiTokenFile != "" && c.apiListen == "" {
		return nil, errors.New("api_token_file is set but api_listen is not: the token guards the TCP API only")
	}
	n := p.Int("sync_replicas")
	if n < 1 || n > maxSyncReplicas {
		return nil, fmt.Errorf("sync_replicas must be 1-%d, not %d", maxSyncReplicas, n)
	}
	c.syncReplicas = int(n)
	switch c.syncMode {
	case checkpoint.SyncStrict, checkpoint.SyncAvailable:
	default:
		return nil, fmt.Errorf("sync_mode must be %s or %s, not %s", checkpoint.SyncStrict, checkpoint.SyncAvailable, ocf.Quote(c.syncMode))
	}
	if c.syncTimeout < minSyncTimeout || c.syncTimeout > maxSyncTimeout {
		return nil, fmt.Errorf("sync_timeout must be %s to %s, not %s", minSyncTimeout, maxSyncTimeout, c.syncTimeout)
	}
	c.maxValue = p.Int("max_value")
	if c.maxValue < 1 || c.maxValue > maxValueLimit {
		return nil, fmt.Errorf("max_value must be 1-%d bytes, not %d", maxValueLimit, c.maxValue)
	}
	if c.instance != "" {
		if err := ocf.CheckName(c.resource); err != nil {
			return nil, fmt.Errorf("the resource name %s %v", ocf.Quote(c.resource), err)
		}
	}
	if c.socket == "" && c.resource != "" {
		c.socket = filepath.Join(defaultSocketDir, c.resource+".sock")
	}
	// A unix socket's path is at most 107 bytes (sun_path).
	if len(c.socket) > 107 {
		return nil, fmt.Errorf("socket %s is longer than a unix socket's 107 bytes", ocf.Quote(c.socket))
	}
	return c, nil
}

func nonEmpty(ss ...string) int {
	n := 0
	for _, s := range ss {
		if s != "" {
			n++
		}
	}
	return n
}

// parsePeers reads "node=host:port" words, separated by blanks or commas.
func parsePeers(s string) (map[string]string, error) {
	words := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' })
	if len(words) > corosyncMaxNodes {
		return nil, fmt.Errorf("more than %d peers", corosyncMaxNodes)
	}
	peers := make(map[string]string, len(words))
	for _, w := range words {
		node, addr, ok := strings.Cut(w, "=")
		if !ok {
			return nil, fmt.Errorf("%s is not node=host:port", ocf.Quote(w))
		}
		if err := checkNodeName(node); err != nil {
			return nil, fmt.Errorf("node name %s %w", ocf.Quote(node), err)
		}
		if err := checkHostPort(addr, false); err != nil {
			return nil, fmt.Errorf("%s: address %w", node, err)
		}
		if _, dup := peers[node]; dup {
			return nil, fmt.Errorf("node %s is given twice", ocf.Quote(node))
		}
		peers[node] = addr
	}
	return peers, nil
}

// checkNodeName refuses what cannot be a Pacemaker node's name in the
// store's flags: empty, blanks, '=' or ',' (the peers list's separators),
// control characters, over 255 bytes.
func checkNodeName(s string) error {
	if err := ocf.CheckName(s); err != nil {
		return err
	}
	if strings.ContainsAny(s, "=, \t") {
		return errors.New("holds '=', ',' or a blank")
	}
	return nil
}

// checkHost accepts an IP address or a DNS name.
func checkHost(h string) error {
	if _, err := netip.ParseAddr(h); err == nil {
		return nil
	}
	if h == "" || len(h) > 253 {
		return errors.New("is no IP address or DNS name")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("%s is no IP address or DNS name", ocf.Quote(h))
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return fmt.Errorf("%s is no IP address or DNS name", ocf.Quote(h))
			}
		}
	}
	return nil
}

// checkHostPort accepts host:port ([v6]:port); anyHost allows an empty
// host (every address, ":8080").
func checkHostPort(s string, anyHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%s is not host:port", ocf.Quote(s))
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%s: the port must be 1-65535", ocf.Quote(s))
	}
	if host == "" && anyHost {
		return nil
	}
	return checkHost(host)
}

// nodeName is this node's name: the one Pacemaker runs the action for, or
// the host's name when run by hand.
func (c *config) nodeName() string {
	if c.node != "" {
		return c.node
	}
	h, err := os.Hostname()
	if err != nil {
		return ""
	}
	return h
}

// resolve fills in what the parameters leave to the node: the replication
// address and the peers, from corosync.conf's nodelist. A node that is
// not in a nodelist that exists cannot default them: ERR_ARGS (this node
// only). Without corosync.conf the store is one replica, listening on
// every address.
func (c *config) resolve() error {
	c.node = c.nodeName()
	if c.replAddress != "" && c.peersSet {
		return nil
	}
	nodes, err := readNodelist(corosyncConf)
	if err != nil {
		return ocf.Errorf(ocf.ErrArgs, "default repl_address and peers: %v (set them)", err)
	}
	var self *clusterNode
	for i := range nodes {
		if nodes[i].Name == c.node {
			self = &nodes[i]
		}
	}
	if len(nodes) > 0 && self == nil && c.replAddress == "" {
		return ocf.Errorf(ocf.ErrArgs, "node %s is not in the nodelist of %s: set repl_address and peers", ocf.Quote(c.node), corosyncConf)
	}
	if c.replAddress == "" && self != nil {
		c.replAddress = self.Addr
	}
	if !c.peersSet {
		c.peers = map[string]string{}
		for _, n := range nodes {
			if n.Name != c.node {
				c.peers[n.Name] = net.JoinHostPort(n.Addr, strconv.Itoa(c.replPort))
			}
		}
	}
	return nil
}

// replListen is the store's replication address.
func (c *config) replListen() string {
	return net.JoinHostPort(c.replAddress, strconv.Itoa(c.replPort))
}

// peerList is the peers as the store's --peers flag takes them,
// "node=host:port,...", sorted, without this node.
func (c *config) peerList() string {
	var ws []string
	for n, a := range c.peers {
		if n != c.node {
			ws = append(ws, n+"="+a)
		}
	}
	sort.Strings(ws)
	return strings.Join(ws, ",")
}

// effectiveSyncMode is sync_mode, except for a store of one replica: it
// has no standby to wait for (strict could never write) and none to mark
// stale, so it runs as available. A store whose peers exist but fewer
// than sync_replicas is a choice the store refuses in strict mode, and
// the agent passes it on as it is.
func (c *config) effectiveSyncMode() string {
	if c.peerList() == "" {
		return checkpoint.SyncAvailable
	}
	return c.syncMode
}

// usesKey reports whether the replication link is authenticated with
// key_file (rather than TLS).
func (c *config) usesKey() bool { return c.tlsCert == "" }

// argv is the store's command line: "vnfha checkpoint serve" and its
// flags, each as --flag=value so that no value can read as a flag. The
// key file is passed only when it is needed (peers) or there: a store of
// one replica on a node without corosync's key runs without it; such a
// store keeps no marks either (no --resource).
func (c *config) argv() []string {
	a := []string{c.binary, "checkpoint", "serve",
		"--data-dir=" + c.dataDir,
		"--node=" + c.node,
		"--socket=" + c.socket,
		fmt.Sprintf("--socket-mode=%04o", c.socketMode),
		"--repl-listen=" + c.replListen(),
		"--peers=" + c.peerList(),
		"--sync-replicas=" + strconv.Itoa(c.syncReplicas),
		"--sync-mode=" + c.effectiveSyncMode(),
		"--sync-timeout=" + c.syncTimeout.String(),
		"--max-value=" + strconv.FormatInt(c.maxValue, 10),
	}
	// The marks are for a store with peers: a replica alone has none to
	// be fresher than it, and its store then needs no CIB to promote.
	if c.peerList() != "" {
		a = append(a, "--resource="+c.resource)
	}
	if c.socketGroup != "" {
		a = append(a, "--socket-group="+c.socketGroup)
	}
	if c.apiListen != "" {
		a = append(a, "--api-listen="+c.apiListen)
	}
	if c.apiTokenFile != "" {
		a = append(a, "--api-token-file="+c.apiTokenFile)
	}
	switch {
	case !c.usesKey():
		a = append(a, "--tls-cert="+c.tlsCert, "--tls-key="+c.tlsKey, "--tls-ca="+c.tlsCA)
	case len(c.peers) > 0 || exists(c.keyFile):
		a = append(a, "--key-file="+c.keyFile)
	}
	return a
}

// validate checks what the configuration names on this node: 5
// (ERR_INSTALLED) for a missing program or file, so that Pacemaker tries
// another node; 6 for a file of the wrong kind or an unknown group.
func (c *config) validate() error {
	if err := checkExecutable(c.binary); err != nil {
		return ocf.NotInstalled("binary %s: %v", ocf.Quote(c.binary), err)
	}
	files := []struct{ name, path string }{{"tls_cert", c.tlsCert}, {"tls_key", c.tlsKey}, {"tls_ca", c.tlsCA}, {"api_token_file", c.apiTokenFile}}
	if c.usesKey() && len(c.peers) > 0 {
		files = append(files, struct{ name, path string }{"key_file", c.keyFile})
	}
	for _, f := range files {
		if f.path == "" {
			continue
		}
		fi, err := os.Stat(f.path)
		if err != nil {
			return ocf.NotInstalled("%s %s: %v", f.name, ocf.Quote(f.path), errors.Unwrap(err))
		}
		if !fi.Mode().IsRegular() {
			return ocf.NotConfigured("%s %s is not a regular file", f.name, ocf.Quote(f.path))
		}
	}
	if fi, err := os.Stat(c.dataDir); err == nil && !fi.IsDir() {
		return ocf.NotConfigured("data_dir %s is not a directory", ocf.Quote(c.dataDir))
	}
	if c.logFile != "" {
		if fi, err := os.Lstat(c.logFile); err == nil && !fi.Mode().IsRegular() {
			return ocf.NotConfigured("log_file %s is not a regular file", ocf.Quote(c.logFile))
		}
		if _, err := os.Stat(filepath.Dir(c.logFile)); err != nil {
			return ocf.NotInstalled("log_file's directory %s: %v", ocf.Quote(filepath.Dir(c.logFile)), errors.Unwrap(err))
		}
	}
	if c.socketGroup != "" {
		if _, err := user.LookupGroup(c.socketGroup); err != nil {
			if _, err := user.LookupGroupId(c.socketGroup); err != nil {
				return ocf.NotConfigured("socket_group %s is no group of this node", ocf.Quote(c.socketGroup))
			}
		}
	}
	return nil
}

// checkExecutable says why path cannot be run: missing, not a regular
// file, or no execute bit.
func checkExecutable(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return errors.Unwrap(err)
	}
	if !fi.Mode().IsRegular() {
		return errors.New("not a regular file")
	}
	if fi.Mode().Perm()&0o111 == 0 {
		return errors.New("not executable")
	}
	return nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
