package haproxy

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ShowInfo runs `show info`.
func (c *Client) ShowInfo(ctx context.Context) (Info, error) {
	reply, err := c.Run(ctx, "show info")
	if err != nil {
		return Info{}, err
	}
	info, err := ParseInfo(reply)
	if err != nil {
		return Info{}, fmt.Errorf("haproxy %s: %w", c, err)
	}
	return info, nil
}

// ServersState runs `show servers state <backend>`.
func (c *Client) ServersState(ctx context.Context, backend string) ([]ServerState, error) {
	if err := checkName("backend", backend); err != nil {
		return nil, err
	}
	reply, err := c.Run(ctx, "show servers state "+backend)
	if err != nil {
		return nil, err
	}
	st, err := ParseServersState(reply)
	if err != nil {
		return nil, fmt.Errorf("haproxy %s: backend %s: %w", c, backend, err)
	}
	return st, nil
}

// AllServersState runs `show servers state` without a backend: the
// servers of every backend, in one reply. A backend without servers has
// no row, so the reply cannot tell it from one that does not exist (see
// StatAll).
func (c *Client) AllServersState(ctx context.Context) ([]ServerState, error) {
	reply, err := c.Run(ctx, "show servers state")
	if err != nil {
		return nil, err
	}
	st, err := ParseServersState(reply)
	if err != nil {
		return nil, fmt.Errorf("haproxy %s: all backends: %w", c, err)
	}
	return st, nil
}

// StatAll runs `show stat -1 6 -1`: the servers of every backend, and
// the proxy id (iid) of every backend by name, servers or not. The BACKEND
// rows cost a row per backend and are what tells an empty backend from a
// missing one without a command per backend; frontends (type 0) are not
// asked for, so none can be taken for the backend of its name.
func (c *Client) StatAll(ctx context.Context) (servers []StatRow, backends map[string]int, err error) {
	reply, err := c.Run(ctx, "show stat -1 6 -1")
	if err != nil {
		return nil, nil, err
	}
	servers, backends, err = parseStat(reply, true)
	if err != nil {
		return nil, nil, fmt.Errorf("haproxy %s: all backends: %w", c, err)
	}
	return servers, backends, nil
}

// Stat reads the servers of backend from `show stat`. HAProxy looks a
// name given to `show stat` up among all proxies, and a frontend named
// like the backend (a common configuration) hides it: `show stat web 4 -1`
// answers for the frontend, which has no servers. So Stat reads the
// servers of every backend (`show stat -1 4 -1`) and keeps backend's;
// Reconcile uses StatID, which reads one backend only. A backend that does
// not exist has no rows.
func (c *Client) Stat(ctx context.Context, backend string) ([]StatRow, error) {
	if err := checkName("backend", backend); err != nil {
		return nil, err
	}
	rows, err := c.stat(ctx, "-1")
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(rows, func(r StatRow) bool { return r.Backend != backend }), nil
}

// StatID reads the servers of the backend whose proxy id is id (be_id in
// `show servers state`), which no frontend can hide, and checks that they
// are backend's: ids are renumbered by a reload, so an id read before one
// may name another proxy.
func (c *Client) StatID(ctx context.Context, backend string, id int) ([]StatRow, error) {
	if err := checkName("backend", backend); err != nil {
		return nil, err
	}
	if id <= 0 {
		return nil, fmt.Errorf("backend %s: proxy id %d", backend, id)
	}
	rows, err := c.stat(ctx, strconv.Itoa(id))
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		if r.Backend != backend {
			return nil, fmt.Errorf("haproxy %s: backend %s: %w: proxy id %d is %s (reloaded?)", c, backend, ErrFormat, id, truncate(r.Backend))
		}
	}
	return rows, nil
}

func (c *Client) stat(ctx context.Context, proxy string) ([]StatRow, error) {
	reply, err := c.Run(ctx, "show stat "+proxy+" 4 -1")
	if err != nil {
		return nil, err
	}
	rows, err := ParseStat(reply)
	if err != nil {
		return nil, fmt.Errorf("haproxy %s: proxy %s: %w", c, proxy, err)
	}
	return rows, nil
}

// hostPort formats an address as `add server` and HAProxy's own output
// write it: 10.0.0.1:80, [2001:db8::1]:80 (2.6 accepts the brackets;
// checked in TestAddServerIPv6). A zone cannot be passed to HAProxy.
func hostPort(a netip.Addr, port uint16) (string, error) {
	if !a.IsValid() {
		return "", fmt.Errorf("no address")
	}
	if a.Zone() != "" {
		return "", fmt.Errorf("address %s: a zone is not supported", a)
	}
	return netip.AddrPortFrom(a.Unmap(), port).String(), nil
}

// checkName refuses a backend or server name HAProxy would refuse, or that
// would change the meaning of a command line.
func checkName(what, name string) error {
	if name == "" {
		return fmt.Errorf("empty %s name", what)
	}
	for i := 0; i < len(name); i++ {
		if !nameChar(name[i]) {
			return fmt.Errorf("%s name %q: character %q is not allowed (letters, digits, '-', '_', '.', ':')", what, truncate(name), name[i])
		}
	}
	return nil
}

// nameChar is the character set HAProxy accepts in proxy and server names
// (its invalid_char(): alphanumerics, '-', '_', '.', ':').
func nameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
		c == '-' || c == '_' || c == '.' || c == ':'
}

// addServerCmd builds `add server` for a checked dynamic server. inter,
// rise, fall and weight are always written out: dynamic servers do not
// inherit default-server (research A.4 point 5). Extra keywords are
// appended as given, after validation by the caller.
func addServerCmd(be, srv string, a netip.Addr, port uint16, ch Check) (string, error) {
	hp, err := hostPort(a, port)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	fmt.Fprintf(&b, "add server %s/%s %s check", be, srv, hp)
	ch = ch.withDefaults()
	fmt.Fprintf(&b, " inter %d rise %d fall %d weight %d", ch.Inter.Milliseconds(), ch.Rise, ch.Fall, *ch.Weight)
	for _, kw := range ch.Extra {
		b.WriteString(" " + kw)
	}
	return b.String(), nil
}

func setAddrCmd(be, srv string, a netip.Addr, port uint16) string {
	return "set server " + be + "/" + srv + " addr " + a.Unmap().String() + " port " + strconv.Itoa(int(port))
}
