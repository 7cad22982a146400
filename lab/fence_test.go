package lab

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/internal/testenv"
)

// fenceLab writes a lab's state without running it: every node is "off",
// since no init listens on its socket.
func fenceLab(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	p := paths{root, "f"}
	if err := os.MkdirAll(p.nodeDir("node1"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := writeState(p, &state{Name: "f", Nodes: []string{"node1", "node2"}, Hosts: []string{"lb1"}, Fencing: true}); err != nil {
		t.Fatal(err)
	}
	return root
}

func TestFenceAgent(t *testing.T) {
	root := fenceLab(t)
	tests := []struct {
		name       string
		args       []string
		stdin      string
		code       int
		out, inErr string
	}{
		{"metadata by option", []string{"-o", "metadata"}, "", fenceOK, `<resource-agent name="fence_vnfha_lab"`, ""},
		{"metadata on stdin", nil, "action=metadata\n", fenceOK, `<parameter name="plug"`, ""},
		{"list", nil, "action=list\nlab=f\nstate_root=" + root + "\n", fenceOK, "node1\nnode2\n", ""},
		{"monitor", nil, "action=monitor\nlab=f\nstate_root=" + root + "\n", fenceOK, "", ""},
		{"status of an off node", nil, "action=status\nport=node1\nlab=f\nstate_root=" + root + "\n", fenceOff, "Status: OFF", ""},
		{"off of an off node succeeds", []string{"--action=off", "--plug", "node2", "--lab=f", "--state-root", root}, "", fenceOK, "", "node2 is off"},
		{"reboot of an off node succeeds", nil, "nodename=node2\nplug=node2\naction=reboot\nlab=f\nstate_root=" + root + "\n", fenceOK, "", "node2 is off"},
		{"on cannot power a node on", nil, "action=on\nplug=node1\nlab=f\nstate_root=" + root + "\n", fenceError, "", "vnfha lab start --name f node1"},
		{"unknown node", nil, "action=off\nplug=node9\nlab=f\nstate_root=" + root + "\n", fenceError, "", `no such node "node9"`},
		{"client is not a node", nil, "action=off\nplug=client\nlab=f\nstate_root=" + root + "\n", fenceError, "", "no such node"},
		{"a host is not a node", nil, "action=reboot\nplug=lb1\nlab=f\nstate_root=" + root + "\n", fenceError, "", `no such node "lb1"`},
		{"lab required", nil, "action=off\nplug=node1\n", fenceError, "", "lab option is required"},
		{"unknown lab", nil, "action=off\nplug=node1\nlab=nope\nstate_root=" + root + "\n", fenceError, "", "is not up"},
		{"unknown action", nil, "action=dance\nplug=node1\nlab=f\nstate_root=" + root + "\n", fenceError, "", "unsupported action"},
		{"unknown option", []string{"--bogus"}, "", fenceError, "", "unknown option"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := FenceAgent(tt.args, strings.NewReader(tt.stdin), &out, &errb)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, errb.String())
			}
			if !strings.Contains(out.String(), tt.out) {
				t.Errorf("stdout %q lacks %q", out.String(), tt.out)
			}
			if !strings.Contains(errb.String(), tt.inErr) {
				t.Errorf("stderr %q lacks %q", errb.String(), tt.inErr)
			}
		})
	}
}

// The metadata is what pacemaker-fenced parses; xmllint at least proves it
// is well-formed XML.
func TestFenceMetadataWellFormed(t *testing.T) {
	testenv.Tool(t, "xmllint")
	f := filepath.Join(t.TempDir(), "m.xml")
	os.WriteFile(f, []byte(fenceMetadata), 0o644)
	if out, err := exec.Command("xmllint", "--noout", f).CombinedOutput(); err != nil {
		t.Errorf("fence metadata is not well-formed: %v\n%s", err, out)
	}
}
