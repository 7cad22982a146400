package agents

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/vnfha/vnfha/ocf/ocftest"
)

var update = flag.Bool("update", false, "rewrite docs/agents/<name>.md from the agents' declarations")

// TestDocsUpToDate keeps docs/agents/<name>.md equal to what each agent's
// declaration generates. Run `go test ./agents -update` after changing one.
func TestDocsUpToDate(t *testing.T) {
	dir := filepath.Join("..", "docs", "agents")
	for _, a := range All() {
		t.Run(a.Name, func(t *testing.T) {
			path := filepath.Join(dir, a.Name+".md")
			want := a.Markdown()
			if *update {
				if err := os.WriteFile(path, want, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatalf("read reference page: %v (run `go test ./agents -update`)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s is stale: run `go test ./agents -update`", path)
			}
		})
	}
}

func TestMetaDataValidates(t *testing.T) {
	for _, a := range All() {
		t.Run(a.Name, func(t *testing.T) {
			md, err := a.MetaData()
			if err != nil {
				t.Fatal(err)
			}
			ocftest.ValidateMetaData(t, md)
		})
	}
}

func TestLookup(t *testing.T) {
	if len(All()) == 0 {
		t.Fatal("no agents registered")
	}
	seen := map[string]bool{}
	for _, name := range Names() {
		if seen[name] {
			t.Errorf("agent %s registered twice", name)
		}
		seen[name] = true
		if a := Lookup(name); a == nil || a.Name != name {
			t.Errorf("Lookup(%q) = %v", name, a)
		}
	}
	if !seen["dummy"] {
		t.Error("dummy is not registered")
	}
	if Lookup("vip-not-yet") != nil || Lookup("") != nil {
		t.Error("Lookup found an agent that does not exist")
	}
}
