package bridge

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults an operator gets when the config leaves a key out.
const (
	DefaultResync       = 5 * time.Second
	DefaultListen       = "127.0.0.1:9650"
	DefaultPrefix       = "vnfha-"
	DefaultAddressAttr  = "vnfha-address"
	DefaultHoldAttr     = "vnfha-hold"
	DefaultDrainTimeout = 30 * time.Second
	DefaultLBTimeout    = 2 * time.Second
	DefaultInter        = time.Second
	DefaultRise         = 2
	DefaultFall         = 2
	DefaultWeight       = 100
	// DefaultUnrecoverableAfter: well past what a restart in place takes,
	// short enough for the VNFM to act before an operator would.
	DefaultUnrecoverableAfter = 5 * time.Minute
)

// Config is `vnfha bridge`'s configuration file. Every key is documented
// in docs/bridge.md; the YAML is read strictly, so a misspelt key is an
// error and never a silently ignored setting.
type Config struct {
	// Cluster is a name for this cluster in logs, status and events.
	Cluster string `yaml:"cluster"`
	// Resync is the safety net: the full CIB and every HAProxy are read
	// again at this interval even when nothing was notified.
	Resync Duration `yaml:"resync"`
	// Listen is where /metrics and /v1/status are served; "" turns it off.
	Listen *string `yaml:"listen"`
	// ServerPrefix marks the HAProxy servers the bridge owns: it never
	// touches a server whose name lacks it.
	ServerPrefix string `yaml:"server_prefix"`
	// NodeAddresses maps a node to its address on the service network.
	NodeAddresses map[string]string `yaml:"node_addresses"`
	// AddressAttribute is the node attribute consulted for a node that
	// NodeAddresses does not list.
	AddressAttribute string `yaml:"address_attribute"`
	// HoldAttribute is the node attribute with which an operator holds
	// the servers of some services on a node: the bridge leaves them
	// exactly as they are (docs/bridge.md, the hold_attribute key).
	HoldAttribute string `yaml:"hold_attribute"`
	// LogLevel is logrus's level name.
	LogLevel string `yaml:"log_level"`

	HAProxy  []HAProxyConfig `yaml:"haproxy"`
	Services []ServiceConfig `yaml:"services"`

	// Webhooks get every event (or those their types select) as signed
	// CloudEvents; VNFM is told to heal what Pacemaker cannot recover.
	// Delivery tunes the retries of both (sinks.go).
	Webhooks []WebhookConfig `yaml:"webhooks"`
	VNFM     *VNFMConfig     `yaml:"vnfm"`
	Delivery DeliveryConfig  `yaml:"delivery"`

	// addrs is NodeAddresses, parsed.
	addrs map[string]netip.Addr
}

// HAProxyConfig is one HAProxy instance the bridge drives.
type HAProxyConfig struct {
	Name string `yaml:"name"`
	// Admin is the admin-level runtime API socket: unix:///path,
	// tcp://host:port, or an absolute path.
	Admin string `yaml:"admin"`
	// Timeout bounds one reconcile of this HAProxy, so that one that
	// hangs never delays the others.
	Timeout Duration `yaml:"timeout"`
}

// ServiceConfig ties a Pacemaker resource to an HAProxy backend.
type ServiceConfig struct {
	Name string `yaml:"name"`
	// Resource is a primitive, group or clone id of the CIB.
	Resource string `yaml:"resource"`
	// Backend is the HAProxy backend that serves the resource's instances;
	// it must use a dynamic balance algorithm (roundrobin, leastconn, ...).
	Backend string `yaml:"backend"`
	// Port is the port of the service on every instance.
	Port int `yaml:"port"`
	// PromotedOnly puts only the Promoted instances of a promotable clone
	// in the pool.
	PromotedOnly bool `yaml:"promoted_only"`
	// DrainTimeout bounds how long a planned stop waits for the sessions
	// of a draining server before it goes to maintenance.
	DrainTimeout Duration `yaml:"drain_timeout"`
	// Check is passed to every server the bridge adds: HAProxy does not
	// apply a backend's default-server line to servers added at runtime.
	Check CheckConfig `yaml:"check"`
	// HAProxy names the instances that serve this backend; empty means
	// all of them.
	HAProxy []string `yaml:"haproxy"`

	// VNFInstanceID is the VNFM's id of the VNF this service belongs to
	// (Tacker's vnf_instances id); empty means the resource's
	// vnfha-vnf-instance-id meta attribute in the CIB, if any.
	VNFInstanceID string `yaml:"vnf_instance_id"`
	// VNFCInstanceIDs maps a node to the VNFM's id of the VNFC that runs
	// this service there (Tacker's vnfcInfo[].id): a node is a VM, and a
	// VNFC is what the VNFM heals. A node it does not list is looked up in
	// the resource's vnfha-vnfc-instance-ids meta attribute
	// ("node1=id1,node2=id2").
	VNFCInstanceIDs map[string]string `yaml:"vnfc_instance_ids"`
	// UnrecoverableAfter is how long a failed instance may stay stopped
	// before the bridge reports it vnfc.unrecoverable even though
	// Pacemaker has not given up on it; 0 turns that rule off.
	UnrecoverableAfter Duration `yaml:"unrecoverable_after"`
}

// CheckConfig are the health-check settings of the servers the bridge adds.
type CheckConfig struct {
	Inter  Duration `yaml:"inter"`
	Rise   int      `yaml:"rise"`
	Fall   int      `yaml:"fall"`
	Weight *int     `yaml:"weight"`
}

// Duration is a time.Duration written in Go's syntax ("5s", "250ms").
type Duration struct{ time.Duration }

// UnmarshalYAML reads a Go duration string; a bare number is refused,
// because its unit would be a guess.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: expected a duration such as 5s or 250ms", n.Line)
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration such as 5s or 250ms", n.Line, n.Value)
	}
	d.Duration = v
	return nil
}

// MarshalYAML writes the duration back in the same syntax.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// maxConfigSize keeps a wrong path (a device, a huge log) from being read
// whole.
const maxConfigSize = 1 << 20

// LoadConfig reads, checks and completes the config file at path.
func LoadConfig(path string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("config %s: not a regular file", path)
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, fmt.Errorf("config %s: larger than %d bytes", path, maxConfigSize)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// ParseConfig reads a config document, refusing unknown keys, and checks
// it. Errors name the key and its line.
func ParseConfig(data []byte) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("empty: at least haproxy and services are needed")
		}
		return nil, cleanYAMLError(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, errors.New("more than one YAML document")
	}
	var c Config
	// Decoding the node again with KnownFields turns a misspelt key into
	// an error with its line, instead of a setting silently left at its
	// default.
	strict := yaml.NewDecoder(bytes.NewReader(data))
	strict.KnownFields(true)
	if err := strict.Decode(&c); err != nil {
		return nil, cleanYAMLError(err)
	}
	if err := c.complete(&root); err != nil {
		return nil, err
	}
	return &c, nil
}

// cleanYAMLError drops the Go type names yaml.v3 puts in its messages,
// which mean nothing to an operator.
var (
	yamlTypeRE  = regexp.MustCompile(` in type [\w.\[\]*]+`)
	yamlFieldRE = regexp.MustCompile(`field (\S+) not found`)
)

func cleanYAMLError(err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	msg = strings.ReplaceAll(msg, "unmarshal errors:\n  ", "")
	msg = strings.ReplaceAll(msg, "\n  ", "; ")
	msg = yamlTypeRE.ReplaceAllString(msg, "")
	msg = yamlFieldRE.ReplaceAllString(msg, `unknown key "$1"`)
	return errors.New(msg)
}

var (
	nameRE    = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$`)
	backendRE = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,255}$`)
)

// complete checks every value and fills the defaults. root locates the
// line of a bad value.
func (c *Config) complete(root *yaml.Node) error {
	at := func(path ...any) string {
		if l := lineOf(root, path...); l > 0 {
			return fmt.Sprintf("line %d: ", l)
		}
		return ""
	}
	// set tells a key written with a zero value, which is refused with
	// the key's range, from a key left out, which takes the default.
	set := func(path ...any) bool { _, ok := findNode(root, path...); return ok }
	if c.Resync.Duration == 0 && !set("resync") {
		c.Resync.Duration = DefaultResync
	}
	if c.Resync.Duration < 100*time.Millisecond || c.Resync.Duration > time.Hour {
		return fmt.Errorf("%sresync: %s is outside 100ms..1h", at("resync"), c.Resync)
	}
	if c.Listen == nil {
		l := DefaultListen
		c.Listen = &l
	} else if *c.Listen != "" {
		if _, err := netip.ParseAddrPort(*c.Listen); err != nil {
			return fmt.Errorf("%slisten: %q is not an IP:port (or \"\" to turn it off)", at("listen"), *c.Listen)
		}
	}
	if c.ServerPrefix == "" {
		c.ServerPrefix = DefaultPrefix
	} else if !nameRE.MatchString(c.ServerPrefix) || len(c.ServerPrefix) > 16 {
		return fmt.Errorf("%sserver_prefix: %q must be up to 16 letters, digits, '.', '_' or '-'", at("server_prefix"), c.ServerPrefix)
	}
	if c.AddressAttribute == "" {
		c.AddressAttribute = DefaultAddressAttr
	}
	if c.HoldAttribute == "" {
		c.HoldAttribute = DefaultHoldAttr
	}
	if c.HoldAttribute == c.AddressAttribute {
		return fmt.Errorf("%shold_attribute: %q is also the address_attribute", at("hold_attribute"), c.HoldAttribute)
	}
	if c.LogLevel == "" {
		c.LogLevel = "info"
	} else if !validLogLevel(c.LogLevel) {
		return fmt.Errorf("%slog_level: %q is not one of panic, fatal, error, warning, info, debug, trace", at("log_level"), c.LogLevel)
	}
	c.addrs = make(map[string]netip.Addr, len(c.NodeAddresses))
	for node, s := range c.NodeAddresses {
		a, err := netip.ParseAddr(s)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%snode_addresses.%s: %q is not an IP address (HAProxy takes IP literals only)", at("node_addresses", node), node, s)
		}
		c.addrs[node] = a.Unmap()
	}
	if len(c.HAProxy) == 0 {
		return fmt.Errorf("haproxy: at least one HAProxy instance is needed")
	}
	lbs := map[string]bool{}
	for i := range c.HAProxy {
		h := &c.HAProxy[i]
		if !nameRE.MatchString(h.Name) {
			return fmt.Errorf("%shaproxy[%d].name: %q must be letters, digits, '.', '_' or '-'", at("haproxy", i, "name"), i, h.Name)
		}
		if lbs[h.Name] {
			return fmt.Errorf("%shaproxy[%d].name: %q is used twice", at("haproxy", i, "name"), i, h.Name)
		}
		lbs[h.Name] = true
		if err := checkAdminAddr(h.Admin); err != nil {
			return fmt.Errorf("%shaproxy[%d].admin: %w", at("haproxy", i, "admin"), i, err)
		}
		if h.Timeout.Duration == 0 && !set("haproxy", i, "timeout") {
			h.Timeout.Duration = DefaultLBTimeout
		}
		if h.Timeout.Duration < 10*time.Millisecond || h.Timeout.Duration > time.Minute {
			return fmt.Errorf("%shaproxy[%d].timeout: %s is outside 10ms..1m", at("haproxy", i, "timeout"), i, h.Timeout)
		}
	}
	if err := c.completeSinks(at, set); err != nil {
		return err
	}
	if len(c.Services) == 0 {
		return fmt.Errorf("services: at least one service is needed")
	}
	svcs := map[string]bool{}
	backends := map[string]string{}
	for i := range c.Services {
		s := &c.Services[i]
		key := func(k string) string { return at("services", i, k) }
		if !nameRE.MatchString(s.Name) {
			return fmt.Errorf("%sservices[%d].name: %q must be letters, digits, '.', '_' or '-'", key("name"), i, s.Name)
		}
		if svcs[s.Name] {
			return fmt.Errorf("%sservices[%d].name: %q is used twice", key("name"), i, s.Name)
		}
		svcs[s.Name] = true
		if s.Resource == "" {
			return fmt.Errorf("%sservices[%d].resource: the Pacemaker resource id is needed", key("resource"), i)
		}
		if !backendRE.MatchString(s.Backend) {
			// HAProxy's own set: anything else is refused by every
			// reconcile, long after --check-config said "valid".
			return fmt.Errorf("%sservices[%d].backend: %q is not an HAProxy backend name (letters, digits, '-', '_', '.', ':')", key("backend"), i, s.Backend)
		}
		if other, dup := backends[s.Backend]; dup {
			// Two services filling one backend would each remove the
			// other's servers.
			return fmt.Errorf("%sservices[%d].backend: %q is already the backend of service %s", key("backend"), i, s.Backend, other)
		}
		backends[s.Backend] = s.Name
		if s.Port < 1 || s.Port > 65535 {
			return fmt.Errorf("%sservices[%d].port: %d is not a TCP port (1..65535)", at("services", i), i, s.Port)
		}
		if s.DrainTimeout.Duration == 0 && !set("services", i, "drain_timeout") {
			s.DrainTimeout.Duration = DefaultDrainTimeout
		}
		if s.DrainTimeout.Duration < time.Millisecond || s.DrainTimeout.Duration > 24*time.Hour {
			return fmt.Errorf("%sservices[%d].drain_timeout: %s is outside 1ms..24h", key("drain_timeout"), i, s.DrainTimeout)
		}
		ck := &s.Check
		if ck.Inter.Duration == 0 && !set("services", i, "check", "inter") {
			ck.Inter.Duration = DefaultInter
		}
		if ck.Inter.Duration < 10*time.Millisecond || ck.Inter.Duration > time.Hour {
			return fmt.Errorf("%sservices[%d].check.inter: %s is outside 10ms..1h", at("services", i, "check", "inter"), i, ck.Inter)
		}
		if ck.Rise == 0 && !set("services", i, "check", "rise") {
			ck.Rise = DefaultRise
		}
		if ck.Fall == 0 && !set("services", i, "check", "fall") {
			ck.Fall = DefaultFall
		}
		if ck.Rise < 1 || ck.Rise > 100 || ck.Fall < 1 || ck.Fall > 100 {
			return fmt.Errorf("%sservices[%d].check: rise and fall must be 1..100", at("services", i, "check"), i)
		}
		if ck.Weight == nil {
			w := DefaultWeight
			ck.Weight = &w
		}
		// HAProxy 2.6 gives a dynamic server weight 1 when asked for 0,
		// so 0 would never be what the pool shows.
		if *ck.Weight < 1 || *ck.Weight > 256 {
			return fmt.Errorf("%sservices[%d].check.weight: %d is outside 1..256", at("services", i, "check", "weight"), i, *ck.Weight)
		}
		if s.UnrecoverableAfter.Duration == 0 && !set("services", i, "unrecoverable_after") {
			s.UnrecoverableAfter.Duration = DefaultUnrecoverableAfter
		}
		if u := s.UnrecoverableAfter.Duration; u != 0 && (u < time.Second || u > 7*24*time.Hour) {
			return fmt.Errorf("%sservices[%d].unrecoverable_after: %s is outside 1s..168h (0 turns the rule off)", key("unrecoverable_after"), i, s.UnrecoverableAfter)
		}
		if err := checkIdentifier(s.VNFInstanceID); err != nil {
			return fmt.Errorf("%sservices[%d].vnf_instance_id: %w", key("vnf_instance_id"), i, err)
		}
		for node, id := range s.VNFCInstanceIDs {
			if node == "" {
				return fmt.Errorf("%sservices[%d].vnfc_instance_ids: an empty node name", key("vnfc_instance_ids"), i)
			}
			if id == "" {
				return fmt.Errorf("%sservices[%d].vnfc_instance_ids.%s: empty (an empty vnfcInstanceId heals every VNFC of the VNF)", key("vnfc_instance_ids"), i, node)
			}
			if err := checkIdentifier(id); err != nil {
				return fmt.Errorf("%sservices[%d].vnfc_instance_ids.%s: %w", key("vnfc_instance_ids"), i, node, err)
			}
		}
		for j, n := range s.HAProxy {
			if !lbs[n] {
				return fmt.Errorf("%sservices[%d].haproxy[%d]: %q is not the name of an HAProxy instance above", at("services", i, "haproxy", j), i, j, n)
			}
		}
	}
	return nil
}

// checkIdentifier checks a VNFM id as SOL013 defines an Identifier: a
// string of at most 255 characters; printable, since it goes into a URL
// path and logs.
func checkIdentifier(id string) error {
	if len([]rune(id)) > 255 {
		return fmt.Errorf("%d characters; an ETSI Identifier has at most 255", len([]rune(id)))
	}
	for _, r := range id {
		if r < 0x21 || r == 0x7f {
			return fmt.Errorf("%q holds a space or a control character", id)
		}
	}
	return nil
}

func validLogLevel(s string) bool {
	switch s {
	case "panic", "fatal", "error", "warn", "warning", "info", "debug", "trace":
		return true
	}
	return false
}

// checkAdminAddr accepts unix:///path, an absolute path, or tcp://IP:port
// with an IP literal (a name would be resolved at every connect, and a
// management network should not depend on DNS). It reads the address as
// bridge/haproxy's client does, by its prefix, so that what is checked is
// what is dialled: no URL query, fragment, user or escapes.
func checkAdminAddr(s string) error {
	switch {
	case strings.HasPrefix(s, "/"):
		return checkSocketPath(s)
	case strings.HasPrefix(s, "unix://"):
		p := strings.TrimPrefix(s, "unix://")
		if !strings.HasPrefix(p, "/") {
			return fmt.Errorf("%q: a unix socket is written unix:///absolute/path", s)
		}
		return checkSocketPath(p)
	case strings.HasPrefix(s, "tcp://"):
		if _, err := netip.ParseAddrPort(strings.TrimPrefix(s, "tcp://")); err != nil {
			return fmt.Errorf("%q: a TCP admin socket is written tcp://IP:port", s)
		}
		return nil
	}
	return fmt.Errorf("%q: expected unix:///path or tcp://IP:port", s)
}

// checkSocketPath refuses what a URL would have meant differently, and
// what no socket path holds.
func checkSocketPath(p string) error {
	if strings.ContainsAny(p, "?#%\x00\n") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("%q: not a plain absolute socket path", p)
	}
	return nil
}

// Address returns node's address on the service network from the config
// map, or from the node attribute; the error says how to give one.
func (c *Config) Address(node string, attr func(name string) (string, bool)) (netip.Addr, error) {
	if a, ok := c.addrs[node]; ok {
		return a, nil
	}
	if attr != nil {
		if v, ok := attr(c.AddressAttribute); ok {
			a, err := netip.ParseAddr(strings.TrimSpace(v))
			if err != nil || a.Zone() != "" {
				return netip.Addr{}, fmt.Errorf("node %s: attribute %s=%q is not an IP address", node, c.AddressAttribute, v)
			}
			return a.Unmap(), nil
		}
	}
	return netip.Addr{}, fmt.Errorf("node %s has no service address: add it under node_addresses in the config, or set the node attribute (pcs node attribute %s %s=IP)", node, node, c.AddressAttribute)
}

// lineOf finds the line of the value at path (map keys as strings, list
// indexes as ints) in a decoded document, or of the deepest part of path
// that is there; 0 when none is.
func lineOf(root *yaml.Node, path ...any) int {
	line, _ := findNode(root, path...)
	return line
}

// findNode walks path in a decoded document; ok is false when some part
// of path is not there (line is then the deepest part that is).
func findNode(root *yaml.Node, path ...any) (line int, ok bool) {
	n := root
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	for _, p := range path {
		switch k := p.(type) {
		case string:
			if n.Kind != yaml.MappingNode {
				return line, false
			}
			found := false
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == k {
					line = n.Content[i].Line
					n = n.Content[i+1]
					found = true
					break
				}
			}
			if !found {
				return line, false
			}
		case int:
			if n.Kind != yaml.SequenceNode || k >= len(n.Content) {
				return line, false
			}
			n = n.Content[k]
			line = n.Line
		}
	}
	return line, true
}
