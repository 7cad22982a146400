package durable

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// errInjected is what the tests make a step return.
var errInjected = errors.New("injected failure")

// entries lists a directory's names.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	old := syscall.Umask(0o077)
	defer syscall.Umask(old)
	tests := []struct {
		name    string
		old     string // existing contents, "" for none
		data    string
		perm    os.FileMode
		wantErr bool
	}{
		{name: "new file", data: "hello\n", perm: 0o644},
		{name: "replaces", old: "old contents, longer than the new", data: "new", perm: 0o600},
		{name: "empty", old: "x", data: "", perm: 0o640},
		{name: "mode not narrowed by umask", data: "x", perm: 0o755},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			if tt.old != "" {
				if err := os.WriteFile(path, []byte(tt.old), 0o666); err != nil {
					t.Fatal(err)
				}
			}
			if err := WriteFile(path, []byte(tt.data), tt.perm); err != nil {
				t.Fatalf("WriteFile: %v", err)
			}
			b, err := os.ReadFile(path)
			if err != nil || string(b) != tt.data {
				t.Errorf("contents = %q, %v; want %q", b, err, tt.data)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != tt.perm {
				t.Errorf("mode = %v, want %v", fi.Mode().Perm(), tt.perm)
			}
			if got := entries(t, dir); len(got) != 1 {
				t.Errorf("directory holds %q, want only the file", got)
			}
		})
	}
}

func TestWriteFileRelative(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	if err := WriteFile("f", []byte("x"), 0o600); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "f")); err != nil || string(b) != "x" {
		t.Errorf("contents = %q, %v", b, err)
	}
}

func TestWriteFileReplacesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "target")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(link, []byte("new"), 0o600); err != nil {
		t.Fatalf("WriteFile: %v", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Errorf("the link's target was written: %q", b)
	}
	if fi, err := os.Lstat(link); err != nil || !fi.Mode().IsRegular() {
		t.Errorf("link not replaced by a regular file: %v, %v", fi, err)
	}
}

func TestWriteFileRefuses(t *testing.T) {
	tests := []struct {
		name  string
		setup func(t *testing.T, dir string) string // returns the path to write
	}{
		{"directory at path", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "d")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p
		}},
		{"empty directory at path with a trailing slash", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "d")
			if err := os.Mkdir(p, 0o755); err != nil {
				t.Fatal(err)
			}
			return p + "/"
		}},
		{"parent is a file", func(t *testing.T, dir string) string {
			p := filepath.Join(dir, "f")
			if err := os.WriteFile(p, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			return filepath.Join(p, "x")
		}},
		{"parent missing", func(t *testing.T, dir string) string {
			return filepath.Join(dir, "none", "x")
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			path := tt.setup(t, dir)
			before := entries(t, dir)
			if err := WriteFile(path, []byte("x"), 0o644); err == nil {
				t.Fatal("WriteFile succeeded")
			}
			if after := entries(t, dir); strings.Join(after, ",") != strings.Join(before, ",") {
				t.Errorf("directory went from %q to %q", before, after)
			}
		})
	}
}

// TestWriteFileCleansUp makes each step fail in turn: the old contents
// stay, and no temporary file is left.
func TestWriteFileCleansUp(t *testing.T) {
	tests := []struct {
		step   string
		inject func() (restore func())
	}{
		{"write", func() func() {
			old := writeData
			writeData = func(*os.File, []byte) error { return errInjected }
			return func() { writeData = old }
		}},
		{"fsync", func() func() {
			old := syncFile
			syncFile = func(*os.File) error { return errInjected }
			return func() { syncFile = old }
		}},
		{"close", func() func() {
			old := closeFile
			closeFile = func(f *os.File) error { f.Close(); return errInjected }
			return func() { closeFile = old }
		}},
		{"rename", func() func() {
			old := rename
			rename = func(string, string) error { return errInjected }
			return func() { rename = old }
		}},
	}
	for _, tt := range tests {
		t.Run(tt.step, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "state")
			if err := os.WriteFile(path, []byte("old"), 0o644); err != nil {
				t.Fatal(err)
			}
			restore := tt.inject()
			err := WriteFile(path, []byte("new"), 0o644)
			restore()
			if !errors.Is(err, errInjected) {
				t.Fatalf("WriteFile = %v, want the injected failure", err)
			}
			if got := entries(t, dir); len(got) != 1 || got[0] != "state" {
				t.Errorf("directory holds %q, want only the old file", got)
			}
			if b, _ := os.ReadFile(path); string(b) != "old" {
				t.Errorf("contents = %q, want the old ones", b)
			}
		})
	}
}

// TestWriteFileSyncs checks that the data and the directory are fsynced,
// in that order around the rename: without them a crash could leave an
// empty file, or the old one.
func TestWriteFileSyncs(t *testing.T) {
	var steps []string
	oldSync, oldRename, oldDir := syncFile, rename, syncDir
	defer func() { syncFile, rename, syncDir = oldSync, oldRename, oldDir }()
	syncFile = func(f *os.File) error { steps = append(steps, "fsync file"); return oldSync(f) }
	rename = func(a, b string) error { steps = append(steps, "rename"); return oldRename(a, b) }
	syncDir = func(d string) error { steps = append(steps, "fsync dir"); return oldDir(d) }
	if err := WriteFile(filepath.Join(t.TempDir(), "f"), []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, want := strings.Join(steps, ", "), "fsync file, rename, fsync dir"; got != want {
		t.Errorf("steps = %s, want %s", got, want)
	}
}
