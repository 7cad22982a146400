package demo

import (
	"os"
	"slices"
	"strings"
	"testing"
)

func TestBlocks(t *testing.T) {
	md := "# T\n\n<!-- demo: a -->\n\n```sh\n# a comment\npcs one \\\n    two=\"x y\"\n\npcs three\n```\n\ntext\n<!-- demo: conf.yaml -->\n```yaml\nk: v\n```\n"
	bs, err := Blocks([]byte(md))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := bs["a"].Commands(), []string{`pcs one two="x y"`, "pcs three"}; !slices.Equal(got, want) {
		t.Errorf("commands %q, want %q", got, want)
	}
	if b := bs["conf.yaml"]; b.Lang != "yaml" || b.Text != "k: v\n" || b.Line != 15 {
		t.Errorf("yaml block %+v", b)
	}
}

func TestBlocksRefuses(t *testing.T) {
	for _, tc := range []struct{ name, md, want string }{
		{"marker without block", "<!-- demo: a -->\ntext\n", "not followed by a fenced block"},
		{"marker at the end", "<!-- demo: a -->\n\n", "has no block"},
		{"two markers", "<!-- demo: a -->\n<!-- demo: b -->\n```sh\nx\n```\n", "follows marker"},
		{"block never ends", "<!-- demo: a -->\n```sh\nx\n", "never ends"},
		{"a name twice", "<!-- demo: a -->\n```sh\nx\n```\n<!-- demo: a -->\n```sh\ny\n```\n", "second block"},
		{"huge", strings.Repeat("x", maxOps+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Blocks([]byte(tc.md)); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one with %q", err, tc.want)
			}
		})
	}
}

func TestLocalize(t *testing.T) {
	subs := []Sub{{"/usr/bin/myvnfc", "/b/vnfcd"}, {"/etc/vnfha/", "/lab/etc/"}}
	for _, tc := range []struct{ in, want string }{
		{"ip=192.0.2.100 tcp://192.0.2.201:9999 {node1: 192.0.2.1}", "ip=198.18.3.100 tcp://198.18.3.201:9999 {node1: 198.18.3.1}"},
		{"192.0.2.1 192.0.2.11 1192.0.2.1", "198.18.3.1 198.18.3.11 1192.0.2.1"},
		{`command="/usr/bin/myvnfc --x" /etc/vnfha/b.yaml`, `command="/b/vnfcd --x" /lab/etc/b.yaml`},
	} {
		if got := Localize(tc.in, subs, "198.18.3."); got != tc.want {
			t.Errorf("Localize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestOperationsBlocks: docs/operations.md has the blocks the demo runs,
// and each names what the demo changes, so that it runs as written.
func TestOperationsBlocks(t *testing.T) {
	md, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	bs, err := Blocks(md)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"setup-a", "bridge.yaml", "setup-b"} {
		if _, ok := bs[name]; !ok {
			t.Errorf("no block %q", name)
		}
	}
	a := strings.Join(bs["setup-a"].Commands(), "\n")
	for _, want := range []string{"pcs resource create state ocf:vnfha:checkpoint", "/usr/bin/myvnfc --state unix:", "log_file=/var/log/pacemaker/app.log", "ocf:vnfha:vip ip=192.0.2.100"} {
		if !strings.Contains(a, want) {
			t.Errorf("set-up A lacks %q", want)
		}
	}
	if b := strings.Join(bs["setup-b"].Commands(), "\n"); !strings.Contains(b, "--listen :8090") {
		t.Errorf("set-up B's VNFC does not listen on :8090, where the demo's kill finds it")
	}
}

func FuzzBlocks(f *testing.F) {
	f.Add([]byte("<!-- demo: a -->\n```sh\npcs x \\\n y\n```\n"))
	f.Add([]byte("<!-- demo: a -->\n\n```\n"))
	f.Fuzz(func(t *testing.T, md []byte) {
		bs, err := Blocks(md)
		if err != nil {
			return
		}
		for name, b := range bs {
			if b.Name != name || !marker.MatchString("<!-- demo: "+name+" -->") {
				t.Fatalf("block %q named %q", name, b.Name)
			}
			for _, c := range b.Commands() {
				if c == "" || strings.HasPrefix(c, "#") {
					t.Fatalf("command %q", c)
				}
			}
		}
	})
}
