package checkpoint

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
)

// corosyncConf is where corosync reads its configuration: the default
// source of the replicas' addresses (every node of a pcs-made cluster has
// the same file).
var corosyncConf = "/etc/corosync/corosync.conf"

// Bounds on what is read of corosync.conf: real ones are a few KiB; a
// larger file, a deeper nesting or a longer line is not one corosync
// writes, and is refused rather than read.
const (
	corosyncMax      = 1 << 20
	corosyncMaxDepth = 16
	corosyncMaxNodes = 512
)

// clusterNode is one node of corosync.conf's nodelist.
type clusterNode struct {
	// Name is the node's name, as Pacemaker knows it: the name key, or
	// ring0_addr when there is none (as corosync and Pacemaker fall back).
	Name string
	// Addr is its ring0_addr: an IP address or a host name.
	Addr string
	ID   uint32
}

// readNodelist reads the nodelist of the corosync.conf at path. A missing
// file is (nil, nil): a node without corosync has no peers to default to.
func readNodelist(path string) ([]clusterNode, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, corosyncMax+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(b) > corosyncMax {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, corosyncMax)
	}
	nodes, err := parseNodelist(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return nodes, nil
}

// confSection is one section of corosync.conf: "name { ... }".
type confSection struct {
	name string
	keys [][2]string
	subs []*confSection
}

// value returns the last value of key in the section ("" if none):
// corosync's own reader keeps the last of repeated keys.
func (s *confSection) value(key string) string {
	v := ""
	for _, kv := range s.keys {
		if kv[0] == key {
			v = kv[1]
		}
	}
	return v
}

// parseCorosyncConf reads corosync.conf's syntax (corosync.conf(5)): lines
// of "key: value", sections opened by "name {" and closed by "}", comments
// from a '#' that starts a line. It returns the top-level section. Errors
// name the line, never quote it: the file may hold anything.
func parseCorosyncConf(b []byte) (*confSection, error) {
	root := &confSection{}
	stack := []*confSection{root}
	opened := []int{0} // the line each open section started on
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), corosyncMax)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" || strings.HasPrefix(text, "#") {
			continue
		}
		cur := stack[len(stack)-1]
		switch {
		case strings.HasSuffix(text, "{"):
			name := strings.TrimSpace(strings.TrimSuffix(text, "{"))
			if name == "" || strings.ContainsAny(name, ":{}") {
				return nil, fmt.Errorf("line %d: a section needs a name", line)
			}
			if len(stack) > corosyncMaxDepth {
				return nil, fmt.Errorf("line %d: sections nested deeper than %d", line, corosyncMaxDepth)
			}
			s := &confSection{name: name}
			cur.subs = append(cur.subs, s)
			stack = append(stack, s)
			opened = append(opened, line)
		case text == "}":
			if len(stack) == 1 {
				return nil, fmt.Errorf("line %d: '}' closes no section", line)
			}
			stack = stack[:len(stack)-1]
			opened = opened[:len(opened)-1]
		default:
			k, v, ok := strings.Cut(text, ":")
			k, v = strings.TrimSpace(k), strings.TrimSpace(v)
			if !ok || k == "" || strings.ContainsAny(k, "{}") {
				return nil, fmt.Errorf("line %d: neither key: value nor a section", line)
			}
			cur.keys = append(cur.keys, [2]string{k, v})
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("line %d: %w", line+1, err)
	}
	if len(stack) != 1 {
		return nil, fmt.Errorf("the section opened on line %d is not closed", opened[len(opened)-1])
	}
	return root, nil
}

// parseNodelist returns the nodes of corosync.conf's nodelist sections,
// in the file's order. A node needs a ring0_addr (the replicas' address);
// names and node ids must be unique.
func parseNodelist(b []byte) ([]clusterNode, error) {
	root, err := parseCorosyncConf(b)
	if err != nil {
		return nil, err
	}
	var nodes []clusterNode
	seen := map[string]bool{}
	for _, nl := range root.subs {
		if nl.name != "nodelist" {
			continue
		}
		for _, n := range nl.subs {
			if n.name != "node" {
				continue
			}
			i := len(nodes) + 1
			if i > corosyncMaxNodes {
				return nil, fmt.Errorf("nodelist: more than %d nodes", corosyncMaxNodes)
			}
			node := clusterNode{Name: n.value("name"), Addr: n.value("ring0_addr")}
			if node.Addr == "" {
				return nil, fmt.Errorf("nodelist: node %d has no ring0_addr", i)
			}
			if node.Name == "" {
				node.Name = node.Addr
			}
			// Errors name the node by its place, never quote the file.
			if err := checkNodeName(node.Name); err != nil {
				return nil, fmt.Errorf("nodelist: node %d: name %w", i, err)
			}
			if checkHost(node.Addr) != nil {
				return nil, fmt.Errorf("nodelist: node %d: ring0_addr is no IP address or DNS name", i)
			}
			if id := n.value("nodeid"); id != "" {
				v, err := strconv.ParseUint(id, 10, 32)
				if err != nil {
					return nil, fmt.Errorf("nodelist: node %d: nodeid is not a number", i)
				}
				node.ID = uint32(v)
			}
			if seen[node.Name] {
				return nil, fmt.Errorf("nodelist: node %d: its name is listed twice", i)
			}
			seen[node.Name] = true
			nodes = append(nodes, node)
		}
	}
	return nodes, nil
}
