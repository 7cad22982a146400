package checkpoint

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vnfha/vnfha/agents/vnfc"
	"github.com/vnfha/vnfha/internal/attrd"
	"github.com/vnfha/vnfha/ocf"
)

// TestMain makes the test binary three programs: the tests; vnfc's
// supervisor, which the agent starts as "--helper vnfc supervise"; and the
// fake store, which the supervisor runs as "BINARY checkpoint serve ...".
func TestMain(m *testing.M) {
	if len(os.Args) > 3 && os.Args[1] == ocf.HelperArg && os.Args[2] == "vnfc" {
		os.Exit(vnfc.Agent.Helper(os.Args[3])(os.Args[4:]))
	}
	if len(os.Args) > 2 && os.Args[1] == "checkpoint" && os.Args[2] == "serve" {
		os.Exit(fakeServe(os.Args[3:]))
	}
	os.Exit(m.Run())
}

// rig is one instance of the agent on a fake node: its environment, the
// fake store's data directory, stand-ins for crm_attribute (which records
// its arguments) and cibadmin (which prints a CIB configuration the test
// chooses), and a stand-in for the attribute manager.
type rig struct {
	t       *testing.T
	dir     string
	dataDir string
	env     map[string]string
	// scores is what the stand-in attribute manager holds, by node; the
	// crm_attribute stand-in's calls are in tools/crm_attribute.log.
	mu     sync.Mutex
	scores map[string]string
}

func newRig(t *testing.T) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the store under the supervisor; skipped in -short mode")
	}
	dir := t.TempDir()
	r := &rig{t: t, dir: dir, dataDir: filepath.Join(dir, "data"), scores: map[string]string{}}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	tools := filepath.Join(dir, "tools")
	if err := os.Mkdir(tools, 0o755); err != nil {
		t.Fatal(err)
	}
	// The stand-ins: crm_attribute logs its arguments, one call a line;
	// cibadmin prints tools/cib.xml (the lab's recorded configuration
	// without marks, unless a test writes another);
	write := func(name, body string) string {
		p := filepath.Join(tools, name)
		if err := os.WriteFile(p, []byte("#!/bin/sh\n"+body), 0o755); err != nil {
			t.Fatal(err)
		}
		return p
	}
	oldAttr, oldCib, oldNode, oldQuery := crmAttributeBin, cibadminBin, crmNodeBin, queryScore
	crmAttributeBin = write("crm_attribute", `echo "$*" >> `+tools+"/crm_attribute.log\n")
	cibadminBin = write("cibadmin", `echo "$*" >> `+tools+"/cibadmin.log\ncat "+tools+"/cib.xml\n")
	queryScore = func(_ context.Context, node, name, _ string) (attrd.Value, error) {
		r.mu.Lock()
		defer r.mu.Unlock()
		v, ok := r.scores[node]
		return attrd.Value{Set: ok, Value: v}, nil
	}
	// crm_node --partition prints tools/partition (every node unless a
	// test writes another).
	crmNodeBin = write("crm_node", "cat "+tools+"/partition\n")
	if err := os.WriteFile(filepath.Join(tools, "partition"), []byte("node1 node2 node3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { crmAttributeBin, cibadminBin, crmNodeBin, queryScore = oldAttr, oldCib, oldNode, oldQuery })
	r.setCIB("cib-config-nomarks.xml")
	r.env = map[string]string{
		"OCF_RESOURCE_INSTANCE":               "ckpt",
		"HA_RSCTMP":                           filepath.Join(dir, "rsctmp"),
		"OCF_RESKEY_data_dir":                 r.dataDir,
		"OCF_RESKEY_binary":                   self,
		"OCF_RESKEY_socket":                   filepath.Join(dir, "ckpt.sock"),
		"OCF_RESKEY_repl_address":             "127.0.0.1",
		"OCF_RESKEY_peers":                    "node2=127.0.0.1:7421 node3=127.0.0.1:7422",
		"OCF_RESKEY_key_file":                 write("authkey", "not a script, a key"),
		"OCF_RESKEY_CRM_meta_on_node":         "node1",
		"OCF_RESKEY_CRM_meta_clone_max":       "3",
		"OCF_RESKEY_CRM_meta_promoted_max":    "1",
		"OCF_RESKEY_CRM_meta_promotable":      "true",
		"OCF_RESKEY_CRM_meta_notify":          "true",
		"OCF_RESKEY_CRM_meta_timeout":         "20000",
		"OCF_RESKEY_CRM_meta_globally_unique": "false",
	}
	t.Cleanup(func() { r.run(ocf.ActionStop) })
	return r
}

// setCIB makes cibadmin print testdata/name.
func (r *rig) setCIB(name string) {
	r.t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, "tools", "cib.xml"), b, 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// script tells the fake store what to do.
func (r *rig) script(s fakeScript) {
	r.t.Helper()
	b, _ := json.Marshal(s)
	if err := os.MkdirAll(r.dataDir, 0o700); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(r.dataDir, "script.json"), b, 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// store reads the fake store's state.
func (r *rig) store() fakeState {
	r.t.Helper()
	var st fakeState
	b, err := os.ReadFile(filepath.Join(r.dataDir, "state.json"))
	if err == nil {
		_ = json.Unmarshal(b, &st)
	}
	return st
}

// run runs an action with the rig's environment plus extra, in this
// process, and returns its code and stderr.
func (r *rig) run(action string, extra ...string) (ocf.Code, string) {
	env := map[string]string{}
	for k, v := range r.env {
		env[k] = v
	}
	for _, kv := range extra {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	code := Agent.Run(ctx, []string{action}, ocf.MapLookup(env), &stdout, &stderr)
	return code, stderr.String()
}

// must runs an action and fails the test unless it returns want.
func (r *rig) must(action string, want ocf.Code, extra ...string) string {
	r.t.Helper()
	code, stderr := r.run(action, extra...)
	if code != want {
		r.t.Fatalf("%s = %d (%s), want %d (%s)\n%s", action, code, code, want, want, stderr)
	}
	return stderr
}

// calls returns the stand-in tool's calls so far, and forgets them.
func (r *rig) calls(tool string) []string {
	r.t.Helper()
	p := filepath.Join(r.dir, "tools", tool+".log")
	b, _ := os.ReadFile(p)
	_ = os.Remove(p)
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// attrCalls returns crm_attribute's calls since the last, and makes the
// stand-in attribute manager hold what they wrote, as the real one would.
func (r *rig) attrCalls() []string {
	r.t.Helper()
	calls := r.calls("crm_attribute")
	for _, c := range calls {
		f := strings.Fields(c)
		node, val, del := "", "", false
		for i := 0; i+1 < len(f) || i < len(f); i++ {
			switch f[i] {
			case "--node":
				node = f[i+1]
			case "--update":
				val = f[i+1]
			case "--delete":
				del = true
			}
		}
		r.mu.Lock()
		if del {
			delete(r.scores, node)
		} else if node != "" && strings.HasPrefix(c, "--promotion") {
			r.scores[node] = val
		}
		r.mu.Unlock()
	}
	return calls
}

// score is the stand-in attribute manager's score of node.
func (r *rig) score(node string) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.scores[node]
}

var (
	jsonMarshal   = json.Marshal
	jsonUnmarshal = json.Unmarshal
)
