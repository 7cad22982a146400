package vnfc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/ocf"
)

// The files of one resource instance's state directory,
// $HA_RSCTMP/vnfha-vnfc/<instance>/. HA_RSCTMP is a tmpfs, so a reboot
// leaves nothing behind, as Pacemaker expects.
const (
	// stateFile is written by the supervisor once the VNFC runs: the
	// record of what start started.
	stateFile = "state"
	// armedFile exists while an exit of the VNFC is unexpected. Start
	// creates it when the VNFC is up; stop removes it before it signals.
	// Whoever removes it first owns the exit: the supervisor reports a
	// failure only if its own remove succeeded, so a deliberate stop is
	// never reported, whatever the interleaving.
	armedFile = "armed"
	// exitFile says how the VNFC ended (an exitRecord), written by the
	// supervisor when it reaps the VNFC's main process.
	exitFile = "exit"
	// promotedFile exists while the instance is promoted.
	promotedFile = "promoted"
)

// record is the content of stateFile.
type record struct {
	// Backend is the backend start used; stop and monitor follow it.
	Backend string `json:"backend,omitempty"`
	// Unit is the systemd unit, for backend=systemd.
	Unit       string `json:"unit,omitempty"`
	Supervisor procID `json:"supervisor"`
	// Main is the VNFC's main process: the command, or with pidfile the
	// daemon it left; zero until the supervisor has started it.
	Main procID `json:"main"`
	PGID int    `json:"pgid"`
	// Started is when Main was found running: the start of the settle
	// time.
	Started time.Time `json:"started"`
	// Starting is set until the supervisor has a main process to watch:
	// before it started the command, and with pidfile until the pid file
	// named the daemon. A record that is still starting when no start is
	// under way is what a start that ran out of time left: it reads as
	// failed, never as stopped, so that Pacemaker stops it.
	Starting bool `json:"starting,omitempty"`
	// Forked is set, with pidfile, once the command's first process has
	// exited 0: the supervisor then waits for the pid file. A start that
	// runs out of time without it had a command that stayed in the
	// foreground.
	Forked bool `json:"forked,omitempty"`
	// Restarts is, for backend=systemd, the unit's NRestarts when start
	// found it running: more later means systemd restarted the VNFC by
	// itself (Restart=), a failure.
	Restarts uint32 `json:"restarts,omitempty"`
	// Invocation is, for backend=systemd, the unit's InvocationID when
	// start found it running: another one later means the unit was
	// started anew since (by systemd's Restart=, or by hand), a failure.
	Invocation string `json:"invocation,omitempty"`
	// DropIn is the runtime drop-in start wrote to override the unit's
	// Restart= (backend=systemd), recorded before it is written: stop
	// removes it, and only it. DropInDir is set when start made its
	// directory: stop removes the directory once it is empty.
	DropIn    string `json:"dropin,omitempty"`
	DropInDir bool   `json:"dropin_dir,omitempty"`
}

// exitRecord is the content of exitFile.
type exitRecord struct {
	PID int       `json:"pid"`
	How string    `json:"how"` // describeWait's text: "exited with status 1"
	At  time.Time `json:"at"`
}

// readExit returns how the VNFC ended, or nil when the supervisor has not
// said.
func readExit(dir string) *exitRecord {
	b, err := readSmall(filepath.Join(dir, exitFile))
	if err != nil {
		return nil
	}
	var e exitRecord
	if json.Unmarshal(b, &e) != nil || e.How == "" {
		return nil
	}
	return &e
}

// stateMax bounds what is read of a state file: ours are a few hundred
// bytes, and the directory is root's, but a bound costs nothing.
const stateMax = 64 << 10

// readSmall reads a file of the state directory, up to stateMax bytes.
func readSmall(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, stateMax))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return b, nil
}

// stateDir is the state directory of the instance env runs for, or an
// ERR_CONFIGURED error for a name that would not stay inside
// HA_RSCTMP/vnfha-vnfc: checked before any file is touched.
func stateDir(env *ocf.Env) (string, error) { return env.StateDir(name) }

// resetDir empties the state directory for a new start.
func resetDir(dir string) error {
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("clear state directory: %w", err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	return nil
}

// readRecord returns nil, nil when no VNFC was started.
func readRecord(dir string) (*record, error) {
	b, err := readSmall(filepath.Join(dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	var r record
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("parse state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return &r, nil
}

// writeRecord replaces stateFile atomically, so that a concurrent monitor
// never reads half of it, and durably: the record is what a stop after a
// crash of the agent, or of the node's tmpfs writer, finds.
func writeRecord(dir string, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b)
}

// writeFileAtomic replaces path atomically and durably (internal/durable:
// a temporary file, fsynced, renamed over it, the directory fsynced),
// readable by root only.
func writeFileAtomic(path string, b []byte) error {
	return durable.WriteFile(path, b, 0o600)
}

// touch creates an empty file.
func touch(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create %s: %w", path, err)
	}
	return f.Close()
}

// take removes a marker file and reports whether this call removed it.
func take(path string) bool {
	return os.Remove(path) == nil
}

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}
