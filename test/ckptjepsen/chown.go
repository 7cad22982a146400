package ckptjepsen

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// chownLike gives f the owner of the directory whose info is fi.
func chownLike(f string, fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	if err := os.Chown(f, int(st.Uid), int(st.Gid)); err != nil {
		return fmt.Errorf("chown %s: %w", f, err)
	}
	return nil
}
