package bench

import (
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// diagEnv names a directory: when set, BenchmarkBridgeKill runs the bridge
// at log_level debug with a log file, gives the VNFC instances a log file
// (their supervisor's lines, µs stamps), and at the end copies there those
// logs, every node's Pacemaker log and kills.txt (each kill's node and
// clock reading), so that a kill's way to HAProxy can be broken down
// step by step on one clock (scripts/killpath.py reads them).
const diagEnv = "VNFHA_BENCH_DIAG"

// diag is where the diagnostic logs go during the run; nil when off.
type diag struct {
	out  string // the directory diagEnv names
	logs string // a directory every node can write to
}

func newDiag(b *testing.B) *diag {
	b.Helper()
	out := os.Getenv(diagEnv)
	if out == "" {
		return nil
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		b.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "bridge-bench-logs-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.RemoveAll(dir) })
	// Written by the VNFC's user (root here) from the nodes.
	if err := os.Chmod(dir, 0o777); err != nil {
		b.Fatal(err)
	}
	return &diag{out: out, logs: dir}
}

func (d *diag) bridgeLog() string { return filepath.Join(d.logs, "bridge.log") }
func (d *diag) vnfcLog() string   { return filepath.Join(d.logs, "vnfc.log") }

// save copies the logs to d.out and writes kills.txt.
func (d *diag) save(ctx context.Context, bl *bridgeLab, rounds []*killRound) error {
	var k strings.Builder
	for _, kr := range rounds {
		// node, the bridge's node, kill(2) bounds, then the bridge's maint line on each LB.
		fmt.Fprintf(&k, "%s %s %s %s", kr.node, cmp.Or(kr.bridge, "?"), kr.t0.UTC().Format(time.RFC3339Nano), kr.t1.UTC().Format(time.RFC3339Nano))
		for _, d := range kr.perLB[0] {
			fmt.Fprintf(&k, " %s", kr.t0.Add(d).UTC().Format(time.RFC3339Nano))
		}
		k.WriteString("\n")
	}
	files := map[string][]byte{"kills.txt": []byte(k.String())}
	for _, f := range []string{d.bridgeLog(), d.vnfcLog()} {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		files[filepath.Base(f)] = b
	}
	for _, n := range bl.nodes {
		b, err := os.ReadFile(filepath.Join(bl.l.NodeDir(n), "log-pacemaker", "pacemaker.log"))
		if err != nil {
			return err
		}
		files["pacemaker-"+n+".log"] = b
	}
	if out, err := bl.l.Exec(ctx, "node1", "crm_mon", "-1", "--output-as=text"); err == nil {
		files["crm_mon.txt"] = out
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(d.out, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
