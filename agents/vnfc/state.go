package vnfc

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

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
	// exitFile says how the VNFC ended when it ended on its own.
	exitFile = "exit"
	// promotedFile exists while the instance is promoted.
	promotedFile = "promoted"
)

// record is the content of stateFile.
type record struct {
	// Backend is the backend start used; stop and monitor follow it.
	Backend string `json:"backend,omitempty"`
	// Unit is the systemd unit, for backend=systemd.
	Unit       string    `json:"unit,omitempty"`
	Supervisor procID    `json:"supervisor"`
	Main       procID    `json:"main"`
	PGID       int       `json:"pgid"`
	Started    time.Time `json:"started"`
}

// stateDir is the state directory of the instance req runs for.
func stateDir(env *ocf.Env) string {
	return filepath.Join(env.RscTmp, "vnfha-vnfc", env.Instance)
}

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
	b, err := os.ReadFile(filepath.Join(dir, stateFile))
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
// never reads half of it.
func writeRecord(dir string, r *record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return writeFileAtomic(filepath.Join(dir, stateFile), b)
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
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
