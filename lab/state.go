package lab

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/internal/procid"
)

// state is what a lab records on disk, so that every later command (and a
// "down" after the tool crashed) can find what "up" made.
type state struct {
	Name     string   `json:"name"`
	Slot     int      `json:"slot"`
	Nodes    []string `json:"nodes"`
	Hosts    []string `json:"hosts,omitempty"`
	Binary   string   `json:"binary"`
	AgentDir string   `json:"agent_dir,omitempty"`
	Fencing  bool     `json:"fencing"`
	// TokenMs is corosync's totem token in ms; 0 (a lab recorded before
	// the option) is DefaultToken.
	TokenMs   int64     `json:"token_ms,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// paths derives every path of a lab from its state root and name.
type paths struct{ root, name string }

func (p paths) dir() string                { return filepath.Join(p.root, p.name) }
func (p paths) stateFile() string          { return filepath.Join(p.dir(), "lab.json") }
func (p paths) marker() string             { return filepath.Join(p.dir(), ".vnfha-lab") }
func (p paths) nodeDir(node string) string { return filepath.Join(p.dir(), "nodes", node) }
func (p paths) sbinDir() string            { return filepath.Join(p.dir(), "sbin") }
func (p paths) binDir() string             { return filepath.Join(p.dir(), "bin") }
func (p paths) ocfStubDir() string         { return filepath.Join(p.dir(), "ocf-stub") }
func (p paths) hostsFile() string          { return filepath.Join(p.dir(), "hosts") }
func (p paths) initPID(node string) string {
	return filepath.Join(p.nodeDir(node), "init.pid")
}
func (p paths) initSock(node string) string {
	return filepath.Join(p.nodeDir(node), "init.sock")
}

// netnsName is the name under /run/netns of a lab's namespace: a node, the
// client or the switch ("sw").
func netnsName(lab, member string) string { return "vnfha-" + lab + "-" + member }

const switchName = "sw"

func readState(p paths) (*state, error) {
	b, err := os.ReadFile(p.stateFile())
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("lab %q is not up (no %s)", p.name, p.stateFile())
	}
	if err != nil {
		return nil, fmt.Errorf("read lab state: %w", err)
	}
	var s state
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("parse lab state %s: %w", p.stateFile(), err)
	}
	// Host names become namespace paths: an edited state file must not
	// lead an exec or a plug elsewhere.
	if err := checkHosts(s.Hosts); err != nil {
		return nil, fmt.Errorf("lab state %s: %w", p.stateFile(), err)
	}
	return &s, nil
}

func writeState(p paths, s *state) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode lab state: %w", err)
	}
	if err := durable.WriteFile(p.stateFile(), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write lab state: %w", err)
	}
	return nil
}

// writeProcRef records the process pid at path as "PID START", so that
// readProcRef never takes a recycled pid for it.
func writeProcRef(path string, pid int) error {
	id, err := procid.Of(pid)
	if err != nil {
		return fmt.Errorf("identify pid %d: %w", pid, err)
	}
	if err := durable.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", id.PID, id.Start)), 0o644); err != nil {
		return fmt.Errorf("record pid %d: %w", pid, err)
	}
	return nil
}

// readProcRef returns the process recorded at path if it still runs (same
// pid, same start time, not a zombie), and ok=false if it has gone (or
// was never recorded).
func readProcRef(path string) (procid.ID, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procid.ID{}, false
	}
	var id procid.ID
	if _, err := fmt.Sscanf(string(b), "%d %d", &id.PID, &id.Start); err != nil || id.PID <= 1 {
		return procid.ID{}, false
	}
	if !id.Alive() {
		return procid.ID{}, false
	}
	return id, true
}

// running reports whether pid is a process that has not exited: a zombie
// still has a /proc entry, but runs nothing.
func running(pid int) bool {
	st, err := procid.ReadStat(pid)
	return err == nil && !st.Zombie()
}

// lockRoot serialises commands that change labs (up, down, slot choice).
func lockRoot(root string) (release func(), err error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("create %s: %w", root, err)
	}
	f, err := os.OpenFile(filepath.Join(root, ".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("open lab lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { f.Close() }, nil
}

// freeSlot picks the lowest address slot that no other lab under root uses.
func freeSlot(root, self string) (int, error) {
	used := map[int]bool{}
	entries, _ := os.ReadDir(root)
	for _, e := range entries {
		if !e.IsDir() || e.Name() == self {
			continue
		}
		if s, err := readState(paths{root, e.Name()}); err == nil {
			used[s.Slot] = true
		}
	}
	for s := 0; s < maxSlots; s++ {
		if !used[s] {
			return s, nil
		}
	}
	return 0, fmt.Errorf("all %d lab address slots are in use", maxSlots)
}

// addr is the IPv4 address of a lab member on the lab's switch.
func (s *state) addr(member string) (netip.Prefix, error) {
	h, err := s.hostID(member)
	return hostAddr(s.Slot, h), err
}

// addrs is every address of a lab member on the lab's switch: IPv4, IPv6.
func (s *state) addrs(member string) ([]netip.Prefix, error) {
	h, err := s.hostID(member)
	if err != nil {
		return nil, err
	}
	return []netip.Prefix{hostAddr(s.Slot, h), hostAddr6(s.Slot, h)}, nil
}

func (s *state) hostID(member string) (int, error) {
	if member == ClientName {
		return clientHostID, nil
	}
	if i := slices.Index(s.Nodes, member); i >= 0 {
		return i + 1, nil
	}
	if i := slices.Index(s.Hosts, member); i >= 0 {
		return firstHostID + i, nil
	}
	return 0, fmt.Errorf("lab %s has no member %s (%s)", s.Name, quote(member), s.members())
}

func (s *state) isNode(name string) bool { return slices.Contains(s.Nodes, name) }
func (s *state) isHost(name string) bool { return slices.Contains(s.Hosts, name) }

// members lists a lab's members for a message: "nodes: node1, node2;
// client; hosts: lb1, lb2".
func (s *state) members() string {
	m := "nodes: " + strings.Join(s.Nodes, ", ") + "; " + ClientName
	if len(s.Hosts) > 0 {
		m += "; hosts: " + strings.Join(s.Hosts, ", ")
	}
	return m
}
