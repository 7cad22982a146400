package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/beevik/etree"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/internal/attrd"
	"github.com/vnfha/vnfha/ocf"
)

// The Pacemaker tools the agent runs, by name (looked for in searchPath)
// or absolute path. Tests point them at stand-ins.
var (
	crmAttributeBin = "crm_attribute"
	cibadminBin     = "cibadmin"
	crmNodeBin      = "crm_node"
)

// searchPath is where the Pacemaker tools are looked for: Pacemaker's
// executor gives agents a PATH, a shell by hand may not have sbin.
const searchPath = "/usr/sbin:/usr/bin:/sbin:/bin"

// cibTimeout bounds one cibadmin or crm_attribute run: each is a CIB round
// trip, tens of milliseconds, unless the CIB manager is busy or restarts.
const cibTimeout = 10 * time.Second

// partitionTimeout bounds crm_node --partition in promote (absentPeers).
const partitionTimeout = 2 * time.Second

// maxCIBAnswer bounds what is read of cibadmin's answer (the whole
// configuration section of the CIB).
const maxCIBAnswer = 16 << 20

// clusterMarks is what the CIB says of the resource: each node's mark and
// the epoch floor.
type clusterMarks struct {
	// Marks maps a node's name to its mark's value (checkpoint.MarkSync,
	// MarkStale, or something else a hand wrote).
	Marks map[string]string
	// Epoch is checkpoint.EpochAttr's value, 0 when unset.
	Epoch uint64
}

// of returns node's mark, "" when it has none.
func (m clusterMarks) of(node string) string { return m.Marks[node] }

// any reports whether some node has a mark: the store has had a primary.
func (m clusterMarks) any() bool { return len(m.Marks) > 0 }

// lookPath finds a tool in searchPath, or takes an absolute path as is.
func lookPath(name string) (string, error) {
	if strings.HasPrefix(name, "/") {
		if err := checkExecutable(name); err != nil {
			return "", fmt.Errorf("%s: %w", name, err)
		}
		return name, nil
	}
	for _, dir := range strings.Split(searchPath, ":") {
		p := dir + "/" + name
		if checkExecutable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%s not found in %s", name, searchPath)
}

// runTool runs a Pacemaker tool, bounded, and returns its stdout; a
// failure says the last line of its stderr.
func runTool(ctx context.Context, name string, args ...string) ([]byte, error) {
	bin, err := lookPath(name)
	if err != nil {
		return nil, ocf.NotInstalled("%v", err)
	}
	ctx, cancel := context.WithTimeout(ctx, cibTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.WaitDelay = 100 * time.Millisecond
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %v%s", name, err, lastLine(stderr.String()))
	}
	if len(out) > maxCIBAnswer {
		return nil, fmt.Errorf("%s: answer larger than %d bytes", name, maxCIBAnswer)
	}
	return out, nil
}

// lastLine is ": " and the last non-empty line of a tool's output, cut
// short, or "".
func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	l := strings.TrimSpace(lines[len(lines)-1])
	if l == "" {
		return ""
	}
	return ": " + ocf.Truncate(ocf.OneLine(l), 96)
}

// readMarks reads the marks of resource and its epoch floor from the CIB's
// configuration: one cibadmin run.
func readMarks(ctx context.Context, resource string) (clusterMarks, error) {
	out, err := runTool(ctx, cibadminBin, "--query", "--scope", "configuration")
	if err != nil {
		return clusterMarks{}, fmt.Errorf("read the marks: %w", err)
	}
	return parseMarks(out, resource)
}

// parseMarks reads the marks and the epoch floor of resource from the
// CIB's configuration section (cibadmin --query --scope configuration).
// A node's mark is its nvpair named checkpoint.MarkAttr(resource) in the
// node's instance_attributes (crm_attribute --lifetime forever writes
// there); the floor is the crm_config nvpair named EpochAttr, the largest
// if there are several sets. A floor that is not a number is an error:
// promote must not guess it.
func parseMarks(b []byte, resource string) (clusterMarks, error) {
	doc := etree.NewDocument()
	doc.ReadSettings.Permissive = false
	if err := doc.ReadFromBytes(b); err != nil {
		return clusterMarks{}, fmt.Errorf("parse the CIB's configuration: %w", err)
	}
	root := doc.Root()
	if root == nil {
		return clusterMarks{}, errors.New("parse the CIB's configuration: no element")
	}
	cfg := root
	if root.Tag != "configuration" {
		if cfg = root.FindElement(".//configuration"); cfg == nil {
			return clusterMarks{}, fmt.Errorf("the CIB's answer has no configuration section (<%s>)", ocf.Truncate(root.Tag, 32))
		}
	}
	m := clusterMarks{Marks: map[string]string{}}
	markName, epochName := checkpoint.MarkAttr(resource), checkpoint.EpochAttr(resource)
	if nodes := cfg.SelectElement("nodes"); nodes != nil {
		for _, n := range nodes.SelectElements("node") {
			uname := n.SelectAttrValue("uname", "")
			if uname == "" {
				continue
			}
			for _, set := range n.SelectElements("instance_attributes") {
				for _, nv := range set.SelectElements("nvpair") {
					if nv.SelectAttrValue("name", "") == markName {
						m.Marks[uname] = nv.SelectAttrValue("value", "")
					}
				}
			}
		}
	}
	if cc := cfg.SelectElement("crm_config"); cc != nil {
		for _, set := range cc.SelectElements("cluster_property_set") {
			for _, nv := range set.SelectElements("nvpair") {
				if nv.SelectAttrValue("name", "") != epochName {
					continue
				}
				v := nv.SelectAttrValue("value", "")
				e, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return clusterMarks{}, fmt.Errorf("cluster property %s is not a number: %s", epochName, ocf.Quote(v))
				}
				m.Epoch = max(m.Epoch, e)
			}
		}
	}
	return m, nil
}

// writeEpoch records epoch as resource's floor (crm_config, forever).
func writeEpoch(ctx context.Context, resource string, epoch uint64) error {
	_, err := runTool(ctx, crmAttributeBin, "--type", "crm_config", "--name", checkpoint.EpochAttr(resource),
		"--update", strconv.FormatUint(epoch, 10))
	if err != nil {
		return fmt.Errorf("record epoch %d: %w", epoch, err)
	}
	return nil
}

// setScore sets (score ≥ 0) or deletes (score < 0) the promotion score of
// the instance on node ("" for the node the action runs for): crm_attribute
// --promotion, lifetime reboot, as every promotable agent does.
func setScore(ctx context.Context, instance, node string, score int) error {
	argv := []string{"--promotion", instance, "--lifetime", "reboot"}
	if node != "" {
		argv = append(argv, "--node", node)
	}
	what := "delete the promotion score"
	if score >= 0 {
		argv = append(argv, "--update", strconv.Itoa(score))
		what = fmt.Sprintf("set the promotion score to %d", score)
	} else {
		argv = append(argv, "--delete")
	}
	if _, err := runTool(ctx, crmAttributeBin, argv...); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// queryScore asks the node's attribute manager for an attribute, over its
// IPC (no fork); tests put a stand-in here.
var queryScore = attrd.Query

// scoreName is the node attribute that holds an instance's promotion
// score (crm_attribute --promotion's name for it).
func scoreName(instance string) string { return "master-" + instance }

// absentPeers names the peers outside this node's cluster partition
// (crm_node --partition): promote tells the store not to ask them, since
// a host that lost power swallows the question until its bound (5 s)
// runs out, all of it added to the failover. On any doubt (the tool
// fails, an empty answer) it names none: the store then asks everyone.
func absentPeers(ctx context.Context, self string, peers map[string]string) ([]string, error) {
	// Bounded well below the 5 s it saves: a controller that does not
	// answer must not make the promote slower than asking everyone.
	ctx, cancel := context.WithTimeout(ctx, partitionTimeout)
	defer cancel()
	out, err := runTool(ctx, crmNodeBin, "--partition")
	if err != nil {
		return nil, err
	}
	return parseAbsent(string(out), self, peers)
}

// parseAbsent reads crm_node --partition's answer (the members' names,
// separated by spaces) and returns the peers it does not name. An answer
// that does not name this node (self) says the names differ (a peers
// parameter naming nodes otherwise than Pacemaker does): then it trusts
// none of it, rather than skip every peer.
func parseAbsent(out, self string, peers map[string]string) ([]string, error) {
	members := strings.Fields(out)
	if len(members) == 0 {
		return nil, errors.New("crm_node --partition named no member")
	}
	if !slices.Contains(members, self) {
		return nil, fmt.Errorf("crm_node --partition does not name this node, %s: the peers' names are not Pacemaker's", ocf.Quote(self))
	}
	var absent []string
	for n := range peers {
		if !slices.Contains(members, n) {
			absent = append(absent, n)
		}
	}
	slices.Sort(absent)
	return absent, nil
}
