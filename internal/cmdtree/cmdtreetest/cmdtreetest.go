// Package cmdtreetest finds and ends the processes a test started, by a
// marker in their command line, so that a test can check that a killed
// command left nothing behind, and clean up when it did. It reads the
// /proc of the caller's PID namespace, which in the root namespace shows
// the processes of every lab node too.
package cmdtreetest

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/procid"
)

// Marker returns a number for `sleep` that no other process uses: a
// fractional duration of about n seconds that carries this test process's
// pid. Put it in a command line and find the command again with Marked.
func Marker(n int) string { return fmt.Sprintf("%d.%d", n, os.Getpid()) }

// Marked lists the live processes (zombies are dead) whose command line
// holds marker, as "PID: command line".
func Marked(marker string) []string {
	var found []string
	paths, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Contains(b, []byte(marker)) {
			continue
		}
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil {
			continue
		}
		if st, err := procid.ReadStat(pid); err != nil || st.Zombie() {
			continue
		}
		found = append(found, strconv.Itoa(pid)+": "+strings.TrimSpace(strings.ReplaceAll(string(b), "\x00", " ")))
	}
	return found
}

// WaitGone waits at most d for the marked processes to die (a SIGKILL is
// delivered asynchronously) and returns those still alive.
func WaitGone(marker string, d time.Duration) []string {
	deadline := time.Now().Add(d)
	for {
		left := Marked(marker)
		if len(left) == 0 || time.Now().After(deadline) {
			return left
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill sends SIGKILL to every marked process.
func Kill(marker string) {
	for _, m := range Marked(marker) {
		var pid int
		if _, err := fmt.Sscanf(m, "%d:", &pid); err == nil {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// Cleanup kills the marked processes when t ends, so that a test that
// fails because a kill did not happen leaves nothing behind either.
func Cleanup(t testing.TB, marker string) {
	t.Helper()
	t.Cleanup(func() { Kill(marker) })
}
