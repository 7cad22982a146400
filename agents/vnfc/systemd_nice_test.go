package vnfc

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/ocf"
)

// TestSystemdNice: with backend=systemd and nice=-7, the unit runs at -7
// in every thread (the test binary serving HTTP, a Go program), from
// Nice= in the agent's drop-in for a unit file (with Restart=no too when
// the unit restarts by itself) or from the property of a transient unit;
// systemd starts the unit in a session of its own, whose autogroup gets
// -7 as well, which systemd's Nice= alone does not do. Stop removes the
// drop-in: the unit has its own Nice= again, and nothing of it runs.
func TestSystemdNice(t *testing.T) {
	b := boot(t)
	self, err := procid.ReadStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	bin := testBinary(t)
	const env = "VNFC_TEST_MODE=serve VNFC_TEST_ADDR=127.0.0.1:8080"
	serveUnit := "[Service]\nType=exec\nEnvironment=" + env + "\nExecStart=" + bin + "\n"
	for _, tt := range []struct {
		name, unit string
		file       string            // the unit file; "" for a transient unit
		params     map[string]string // besides nice and health
		dropIn     []string          // the lines the agent's drop-in must hold
	}{
		{name: "unit file", unit: "vnfc-n.service", file: serveUnit,
			params: map[string]string{"unit": "vnfc-n.service"}, dropIn: []string{"Nice=-7"}},
		{name: "unit file with Restart=always", unit: "vnfc-nr.service", file: serveUnit + "Restart=always\n",
			params: map[string]string{"unit": "vnfc-nr.service"}, dropIn: []string{"Nice=-7", "Restart=no"}},
		{name: "transient", unit: "vnfha-sig.service",
			params: map[string]string{"command": bin, "environment": env}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b.t = t
			if tt.file != "" {
				b.writeUnit(tt.unit, tt.file)
			}
			b.params = map[string]string{"nice": "-7", "health": "http://127.0.0.1:8080/health"}
			for k, v := range tt.params {
				b.params[k] = v
			}
			dropIn := b.sys.Path(filepath.Join("/run/systemd/system", tt.unit+".d", dropInName))
			b.must("start", ocf.Success)
			b.must("monitor", ocf.Success)
			if got := b.show(tt.unit, "Nice"); got != "-7" {
				t.Errorf("unit %s has Nice=%s, want -7", tt.unit, got)
			}
			text, err := os.ReadFile(dropIn)
			switch {
			case tt.dropIn == nil && !os.IsNotExist(err):
				t.Errorf("a transient unit got a drop-in: %q, %v", text, err)
			case tt.dropIn != nil && err != nil:
				t.Errorf("drop-in: %v", err)
			}
			for _, line := range tt.dropIn {
				if !strings.Contains(string(text), "\n"+line+"\n") {
					t.Errorf("drop-in lacks %q:\n%s", line, text)
				}
			}
			if len(tt.dropIn) == 1 && strings.Contains(string(text), "Restart") {
				t.Errorf("a unit with Restart=no got Restart= lines:\n%s", text)
			}
			pid := b.mainPID(tt.unit)
			allAtNice(t, "the unit's main process", pid, -7, goThreads)
			st, err := procid.ReadStat(pid)
			if err != nil {
				t.Fatal(err)
			}
			if st.Session != pid {
				t.Errorf("the unit's main process (pid %d) is in session %d, not one of its own", pid, st.Session)
			}
			if autogroupOff() == "" {
				if got := autogroupLine(t, pid); !strings.HasSuffix(got, " nice -7") {
					t.Errorf("the unit's autogroup %q, want nice -7", got)
				}
			} else {
				t.Logf("autogroups not checked: %s", autogroupOff())
			}
			if w := b.watcher(); w != 0 {
				allAtNice(t, "the unit watcher", w, self.Nice, 1)
			}
			b.must("stop", ocf.Success)
			if _, err := os.Stat(filepath.Dir(dropIn)); !os.IsNotExist(err) {
				t.Errorf("the drop-in's directory is left after stop (%v)", err)
			}
			if tt.file != "" {
				if got := b.show(tt.unit, "Nice"); got != "0" {
					t.Errorf("after stop, unit %s has Nice=%s, want its own 0", tt.unit, got)
				}
			}
			b.nothingLeft(tt.unit)
		})
	}
}

// TestSystemdNiceTakeOver: a unit that runs when start takes it over
// (started by hand) keeps the nice of its threads, which systemd sets at
// exec only: start warns, and gives its autogroup the nice at once. A
// unit file that has the nice already gets no drop-in; an operator's
// drop-in that sets another Nice= after the agent's wins, with a warning.
func TestSystemdNiceTakeOver(t *testing.T) {
	b := boot(t)
	const unit = "vnfc-n.service"
	b.writeUnit(unit, fileUnit)
	b.params = map[string]string{"unit": unit, "nice": "-7"}
	b.systemctl("start", unit)
	pid := b.mainPID(unit)
	stderr := b.must("start", ocf.Success)
	if want := "runs at nice 0, not -7: Nice= applies from the unit's next start"; !strings.Contains(stderr, want) {
		t.Errorf("start's log %q lacks %q", stderr, want)
	}
	if got := b.mainPID(unit); got != pid {
		t.Errorf("start restarted the unit: main pid %d, was %d", got, pid)
	}
	if autogroupOff() == "" {
		if got := autogroupLine(t, pid); !strings.HasSuffix(got, " nice -7") {
			t.Errorf("the unit's autogroup %q, want nice -7", got)
		}
	}
	b.must("stop", ocf.Success)
	b.nothingLeft(unit)

	b.writeUnit(unit, fileUnit+"Nice=-7\n")
	b.must("start", ocf.Success)
	if _, err := os.Stat(b.sys.Path("/run/systemd/system/" + unit + ".d")); !os.IsNotExist(err) {
		t.Errorf("a unit with Nice=-7 already got a drop-in directory (%v)", err)
	}
	allAtNice(t, "the unit's main process", b.mainPID(unit), -7, 1)
	b.must("stop", ocf.Success)
	b.nothingLeft(unit)

	// An operator's drop-in that sorts after the agent's wins: start
	// says so, and goes on.
	b.writeUnit(unit, fileUnit)
	admin := b.sys.Path("/run/systemd/system/" + unit + ".d/zzz-admin.conf")
	must(t, os.MkdirAll(filepath.Dir(admin), 0o755))
	must(t, os.WriteFile(admin, []byte("[Service]\nNice=3\n"), 0o644))
	b.systemctl("daemon-reload")
	if stderr := b.must("start", ocf.Success); !strings.Contains(stderr, "keeps Nice=3") {
		t.Errorf("start did not warn: %q", stderr)
	}
	allAtNice(t, "the unit's main process", b.mainPID(unit), 3, 1)
	b.must("stop", ocf.Success)
	if _, err := os.Stat(admin); err != nil {
		t.Errorf("the operator's drop-in: %v", err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(admin), dropInName)); !os.IsNotExist(err) {
		t.Errorf("the agent's drop-in is left after stop (%v)", err)
	}
	b.nothingLeft(unit)
}
