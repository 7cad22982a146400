// Package durable writes files so that a crash or power loss leaves either
// the old contents or the new, never a torn or empty file, and so that the
// new contents are on disk when the write returns.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// The steps that touch the file system, as variables so that the tests
// can make each one fail and check that nothing is left behind.
var (
	createTemp = os.CreateTemp
	writeData  = func(f *os.File, b []byte) error { _, err := f.Write(b); return err }
	syncFile   = (*os.File).Sync
	closeFile  = (*os.File).Close
	rename     = os.Rename
	syncDir    = SyncDir
)

// SyncDir fsyncs a directory, so that the entries created, renamed or
// removed in it survive a crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// WriteFile replaces the file at path with data, atomically and durably:
// it writes a temporary file in the same directory (created with O_EXCL
// under an unpredictable name, so another process cannot plant it),
// fsyncs it, renames it over path, and fsyncs the directory so the rename
// itself survives a crash. On any failure before the rename the temporary
// file is removed and path keeps its old contents.
//
// perm is the new file's mode, applied exactly (the umask does not
// narrow it). A symbolic link at path is replaced, not followed; a
// directory at path is refused. An error after the rename (the directory
// fsync) means path holds data but its durability is not known.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	if fi, err := os.Lstat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("write %s: is a directory", path)
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if base == "" {
		return fmt.Errorf("write %s: no file name", path)
	}
	// The leading dot keeps the temporary file out of plain listings; the
	// random part is CreateTemp's.
	f, err := createTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if !renamed {
			os.Remove(tmp)
		}
	}()
	fail := func(step string, err error) error {
		closeFile(f)
		return fmt.Errorf("write %s: %s: %w", path, step, err)
	}
	if err := f.Chmod(perm.Perm()); err != nil {
		return fail("set mode", err)
	}
	if err := writeData(f, data); err != nil {
		return fail("write temporary file", err)
	}
	if err := syncFile(f); err != nil {
		return fail("fsync temporary file", err)
	}
	if err := closeFile(f); err != nil {
		return fmt.Errorf("write %s: close temporary file: %w", path, err)
	}
	if err := rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: rename into place: %w", path, err)
	}
	renamed = true
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("write %s: fsync directory: %w", path, err)
	}
	return nil
}
