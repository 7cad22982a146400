package qbipc

import (
	"bytes"
	"encoding/binary"
	"os"
	"os/exec"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// TestSemWait: a waiter on the semaphore wakes when another thread posts
// it (sem_post wakes only registered waiters, so a waiter that did not
// count itself would sleep the whole slice), takes exactly one, and leaves
// the waiter count as it found it, on a post and on a timeout alike.
func TestSemWait(t *testing.T) {
	t.Run("posted while waiting", func(t *testing.T) {
		r := memRing(64)
		go func() {
			time.Sleep(20 * time.Millisecond)
			if err := r.write([]byte("answer")); err != nil {
				t.Error(err)
			}
		}()
		start := time.Now()
		if !r.semWait(5 * time.Second) {
			t.Fatal("semWait timed out although the semaphore was posted")
		}
		// Woken by the post, not by the end of the wait.
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("semWait took %s: the post did not wake it", took)
		}
		if d := atomic.LoadUint64(r.sem()); d != 0 {
			t.Errorf("semaphore word %#x after taking the one post, want 0 (value and waiters)", d)
		}
		if msg, ok := r.read(); !ok || !bytes.Equal(msg, []byte("answer")) {
			t.Errorf("read %q, %v", msg, ok)
		}
	})
	t.Run("already posted", func(t *testing.T) {
		r := memRing(64)
		r.write([]byte("a"))
		r.write([]byte("b"))
		if !r.semWait(time.Millisecond) {
			t.Fatal("semWait missed a posted semaphore")
		}
		if v := r.semValue(); v != 1 {
			t.Errorf("value %d after one wait on 2, want 1", v)
		}
	})
	t.Run("timeout", func(t *testing.T) {
		r := memRing(64)
		start := time.Now()
		if r.semWait(30 * time.Millisecond) {
			t.Fatal("semWait succeeded on a semaphore never posted")
		}
		if took := time.Since(start); took < 30*time.Millisecond {
			t.Errorf("semWait gave up after %s, before its 30ms", took)
		}
		if d := atomic.LoadUint64(r.sem()); d != 0 {
			t.Errorf("semaphore word %#x after a timeout, want 0: the waiter was not removed", d)
		}
	})
}

// TestFutexOp: libqb's process-shared semaphores carry glibc's LLL_SHARED
// (128, seen in the lab nodes' rings), which must give a shared futex
// operation: a private one (FUTEX_PRIVATE_FLAG) never meets the server's
// wake, and every wait then lasts its whole slice.
func TestFutexOp(t *testing.T) {
	for _, tt := range []struct {
		private int32
		op      int
		want    uintptr
	}{
		{128, futexWait, 0},
		{128, futexWake, 1},
		{0, futexWait, 128},
		{0, futexWake, 129},
	} {
		r := memRing(16)
		binary.LittleEndian.PutUint32(r.hdr[offSem+8:], uint32(tt.private))
		if got := r.futexOp(tt.op); got != tt.want {
			t.Errorf("futexOp(%d) with private %d = %d, want %d", tt.op, tt.private, got, tt.want)
		}
	}
}

// TestSemWaitAcrossProcesses: the wait is woken by another process's
// sem_post on a mapped file, as attrd's answer is. The other process posts
// as glibc does for a semaphore whose private field is LLL_SHARED (128):
// a shared FUTEX_WAKE, and only if a waiter is counted. A wait that used a
// private futex operation would sleep its whole 5 s.
func TestSemWaitAcrossProcesses(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qb-response-test-header")
	hdr := make([]byte, headerMin)
	binary.LittleEndian.PutUint32(hdr[offSem+8:], 128)
	if err := os.WriteFile(path, hdr, 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := mapFile(path, headerMin)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(b)
	r := &ring{hdr: b}
	cmd := exec.Command(os.Args[0], "-test.run=^TestSemPostHelper$")
	cmd.Env = append(os.Environ(), "QBIPC_SEM_FILE="+path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ok := r.semWait(5 * time.Second)
	took := time.Since(start)
	// The helper stays after its post, so that its exit (SIGCHLD, which
	// interrupts a futex wait) cannot pass for the wake-up.
	cmd.Process.Kill()
	cmd.Wait()
	if !ok || took > 2*time.Second {
		t.Fatalf("semWait = %v after %s: another process's post did not wake it", ok, took)
	}
	if d := atomic.LoadUint64(r.sem()); d != 0 {
		t.Errorf("semaphore word %#x after the wait, want 0", d)
	}
}

// TestSemPostHelper posts the semaphore of TestSemWaitAcrossProcesses as
// glibc's sem_post does, once the waiter is counted.
func TestSemPostHelper(t *testing.T) {
	path := os.Getenv("QBIPC_SEM_FILE")
	if path == "" {
		t.Skip("helper of TestSemWaitAcrossProcesses")
	}
	b, err := mapFile(path, headerMin)
	if err != nil {
		t.Fatal(err)
	}
	p := (*uint64)(unsafe.Pointer(&b[offSem]))
	for i := 0; atomic.LoadUint64(p)>>32 == 0; i++ {
		if i > 5000 {
			t.Fatal("no waiter within 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let it sleep in the kernel
	d := atomic.AddUint64(p, 1) - 1
	if d>>32 > 0 {
		const futexWakeShared = 1
		if _, _, e := unix.Syscall6(unix.SYS_FUTEX, uintptr(unsafe.Pointer(p)), futexWakeShared, 1, 0, 0, 0); e != 0 {
			t.Fatal(e)
		}
	}
	time.Sleep(time.Minute) // until the test kills it
}
