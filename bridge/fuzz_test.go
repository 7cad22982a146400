package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/crmwrap"
	"github.com/vnfha/vnfha/crmwrap/cib"
)

// FuzzViewFromCIB feeds whatever the CIB parser accepts through facts,
// view and desired pools: nothing may panic, and every desired pool must
// be one HAProxy's reconcile takes (each server named once, with the
// prefix, a valid address and port), whatever the CIB holds.
func FuzzViewFromCIB(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.xml"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	cfg, err := ParseConfig([]byte(`
node_addresses: {node1: 198.18.1.1, node2: 198.18.1.2}
haproxy: [{name: lb1, admin: /run/a.sock}]
services:
  - {name: web, resource: web-clone, backend: be1, port: 80}
  - {name: db, resource: db, backend: be2, port: 81, promoted_only: true}
  - {name: grp, resource: grp, backend: be3, port: 82}
  - {name: solo, resource: solo, backend: be4, port: 83}
  - {name: app, resource: app-clone, backend: be5, port: 84}
  - {name: once, resource: once, backend: be6, port: 85}
`))
	if err != nil {
		f.Fatal(err)
	}
	hb, err := os.ReadFile("../crmwrap/testdata/stonith_admin/history.xml")
	if err != nil {
		f.Fatal(err)
	}
	fuzzFences, _, err := crmwrap.ParseFenceHistory(hb)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := cib.Parse(data)
		if err != nil {
			return
		}
		facts := factsFromCIB(c, nil)
		// The events and records of whatever the CIB holds, against a
		// recorded history: ids unique, records that parse back.
		ev := vnfcEvents(cfg, facts, fuzzFences, time.Unix(1796305005, 0))
		ids := map[string]bool{}
		for _, e := range ev.Events {
			if e.ID == "" || ids[e.ID] {
				t.Fatalf("event id %q empty or repeated", e.ID)
			}
			ids[e.ID] = true
		}
		for _, u := range ranUpdates(cfg, facts, time.Unix(1796305005, 0)) {
			if _, err := parseRan(u.Value); err != nil {
				t.Fatalf("record for %s does not parse back: %v", u.Node, err)
			}
		}
		needFenceHistory(cfg, facts)
		v := buildView(cfg, facts, time.Unix(0, 0))
		d := desiredFor(cfg, v, "lb1")
		for _, be := range d.Backends {
			seen := map[string]bool{}
			for _, s := range be.Servers {
				if seen[s.Name] {
					t.Fatalf("backend %s: server %s listed twice", be.Name, s.Name)
				}
				seen[s.Name] = true
				if !strings.HasPrefix(s.Name, cfg.ServerPrefix) || !s.Addr.IsValid() || s.Port == 0 {
					t.Fatalf("backend %s: server %+v", be.Name, s)
				}
				for i := 0; i < len(s.Name); i++ {
					if c := s.Name[i]; !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-_.:", c) >= 0) {
						t.Fatalf("server name %q: %q", s.Name, c)
					}
				}
			}
		}
	})
}
