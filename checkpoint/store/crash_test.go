package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
	"github.com/vnfha/vnfha/internal/testenv"
)

// The crash tests run the test binary again as a child that works on a
// store until it is killed (or exits at a hook), then check what the
// parent finds when it opens the store.
const (
	childEnv = "VNFHA_STORE_CHILD"
	dirEnv   = "VNFHA_STORE_DIR"
	hookEnv  = "VNFHA_STORE_HOOK"
	snapEnv  = "VNFHA_STORE_SNAPSHOT"
	// noSpaceEnv=wait: the appending child retries on a full disk.
	noSpaceEnv = "VNFHA_STORE_NOSPACE"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "append":
		childAppend()
	case "restore":
		childRestore()
	case "open":
		// TestLock's second process.
		s, err := Open(os.Getenv(dirEnv), crashOptions())
		if err != nil {
			fmt.Println(err)
			os.Exit(4)
		}
		s.Close()
		os.Exit(0)
	case "":
		os.Exit(m.Run())
	default:
		fmt.Fprintln(os.Stderr, "unknown child", os.Getenv(childEnv))
		os.Exit(2)
	}
}

// crashOptions are the options of the crash tests' stores: small
// segments, so that the log switches and recycles segments often.
func crashOptions() Options {
	return Options{SegmentSize: 16 << 10, Logger: quietLogger()}
}

// Every revision's entry is a function of the revision alone, so that a
// child that goes on after another was killed writes the same history.
func crashEntry(r uint64) checkpoint.Entry {
	epoch := r / 50
	if r%50 == 0 {
		return ep(r, epoch)
	}
	n := int(r*7919) % 3000
	v := bytes.Repeat([]byte(strconv.FormatUint(r, 36)+"."), n/4+1)
	return checkpoint.Entry{Rev: r, Epoch: epoch, Op: checkpoint.OpPut, Key: crashKey(r), Value: v, Time: int64(r)}
}

func crashKey(r uint64) string { return "k/" + strconv.FormatUint(r%37, 10) }

// childAppend appends batches of 1 to 20 entries until killed, and says
// on stdout which revision each Append that returned nil ended at.
func childAppend() {
	s, err := Open(os.Getenv(dirEnv), crashOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	w := bufio.NewWriter(os.Stdout)
	fmt.Fprintln(w, "open", s.Position().Rev)
	w.Flush()
	for i := 0; i < 1_000_000; i++ {
		r := s.Position().Rev
		n := 1 + rand.IntN(20)
		var batch []checkpoint.Entry
		for j := 1; j <= n; j++ {
			e := crashEntry(r + uint64(j))
			if e.Op == checkpoint.OpEpoch && s.Epoch() < e.Epoch {
				if len(batch) > 0 {
					break
				}
				if err := s.SetEpoch(e.Epoch); err != nil {
					fmt.Fprintln(os.Stderr, "child set epoch:", err)
					os.Exit(3)
				}
			}
			batch = append(batch, e)
			if e.Op == checkpoint.OpEpoch {
				break
			}
		}
		if err := s.Append(batch); err != nil {
			if errors.Is(err, checkpoint.ErrNoSpace) && os.Getenv(noSpaceEnv) == "wait" {
				// The full-disk test kills it now.
				fmt.Fprintln(w, "nospace")
				w.Flush()
				time.Sleep(time.Millisecond)
				continue
			}
			fmt.Fprintln(os.Stderr, "child append:", err)
			os.Exit(3)
		}
		fmt.Fprintln(w, "ok", batch[len(batch)-1].Rev)
		w.Flush()
	}
	os.Exit(0)
}

// TestCrashAppend kills a child at random moments while it appends, many
// times over the same store, and checks after each kill that every
// Append that returned nil is there with its value and that the history
// is complete up to where it ends.
func TestCrashAppend(t *testing.T) {
	if testing.Short() {
		t.Skip("kills 40 child processes")
	}
	dir := t.TempDir()
	rounds := 40
	var acked uint64
	for round := 0; round < rounds; round++ {
		delay := time.Duration(5+rand.IntN(60)) * time.Millisecond
		acked = appendUntilKilled(t, dir, nil, "open", delay, acked)
		checkCrashed(t, dir, acked)
	}
	t.Logf("%d rounds, %d revisions acknowledged", rounds, acked)
}

// appendUntilKilled runs childAppend on dir and kills it delay after it
// printed a line starting with armOn. It returns the highest revision
// acknowledged so far (acked, or more).
func appendUntilKilled(t *testing.T, dir string, env []string, armOn string, delay time.Duration, acked uint64) uint64 {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), childEnv+"=append", dirEnv+"="+dir), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string, 1024)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
	}()
	var kill <-chan time.Time
	armed := false
	idle := time.NewTimer(30 * time.Second)
	defer idle.Stop()
	for open := true; open; {
		select {
		case l, ok := <-lines:
			if !ok {
				open = false
				break
			}
			f := strings.Fields(l)
			if len(f) == 2 && f[0] == "open" {
				if r, _ := strconv.ParseUint(f[1], 10, 64); r < acked {
					cmd.Process.Kill()
					t.Fatalf("the child opened the store at revision %d, but %d was acknowledged", r, acked)
				}
			}
			if len(f) == 2 && f[0] == "ok" {
				r, _ := strconv.ParseUint(f[1], 10, 64)
				acked = max(acked, r)
			}
			if !armed && len(f) > 0 && f[0] == armOn {
				armed = true
				kill = time.After(delay)
			}
		case <-kill:
			cmd.Process.Kill()
			kill = nil
		case <-idle.C:
			cmd.Process.Kill()
			t.Fatalf("the child did not get to %q in 30s", armOn)
		}
	}
	err = cmd.Wait()
	if st := stderr.String(); st != "" || err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("child: %v\n%s", err, st)
	}
	return acked
}

// checkCrashed opens the store a killed child left and checks it.
func checkCrashed(t *testing.T, dir string, acked uint64) {
	t.Helper()
	s, err := Open(dir, crashOptions())
	if err != nil {
		t.Fatalf("Open after a kill: %v", err)
	}
	defer s.Close()
	pos := s.Position()
	if pos.Rev < acked {
		t.Fatalf("Position %v after a kill: revision %d was acknowledged", pos, acked)
	}
	if want := crashEntry(pos.Rev).Epoch; pos.Epoch != want || s.Epoch() < pos.Epoch {
		t.Fatalf("Position %v, epoch %d: want the epoch %d", pos, s.Epoch(), want)
	}
	ents, err := s.Entries(0, 0, 0)
	if err != nil {
		t.Fatalf("Entries: %v", err)
	}
	if uint64(len(ents)) != pos.Rev {
		t.Fatalf("%d entries, position %v", len(ents), pos)
	}
	latest := map[string]uint64{}
	for i, e := range ents {
		want := crashEntry(uint64(i + 1))
		if !sameEntries([]checkpoint.Entry{e}, []checkpoint.Entry{want}) {
			t.Fatalf("entry %d is %v, want %v", i+1, e.Position(), want.Position())
		}
		if e.Op == checkpoint.OpPut {
			latest[e.Key] = e.Rev
		}
		if e.Op == checkpoint.OpEpoch {
			if r, ok := s.EpochStart(e.Epoch); !ok || r != e.Rev {
				t.Fatalf("EpochStart(%d) = %d, %v; want %d", e.Epoch, r, ok, e.Rev)
			}
		}
	}
	for k, r := range latest {
		it, _, err := s.Get(k)
		if err != nil || it.Rev != r || !bytes.Equal(it.Value, crashEntry(r).Value) {
			t.Fatalf("Get(%s) = revision %d, %v; want %d", k, it.Rev, err, r)
		}
	}
}

// childRestore restores the snapshot file into the store, exiting at the
// hook named in the environment.
func childRestore() {
	target := os.Getenv(hookEnv)
	hook = func(at string) {
		if at == target {
			os.Exit(7)
		}
	}
	s, err := Open(os.Getenv(dirEnv), crashOptions())
	if err != nil {
		fmt.Fprintln(os.Stderr, "child open:", err)
		os.Exit(3)
	}
	f, err := os.Open(os.Getenv(snapEnv))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	if err := s.Restore(bufio.NewReader(f)); err != nil {
		fmt.Fprintln(os.Stderr, "child restore:", err)
		os.Exit(3)
	}
	// After the restore: its first append, then a crash before anything
	// is applied.
	if target == "after" {
		hook = func(at string) {
			if at == "apply:tx" {
				os.Exit(7)
			}
		}
		p := s.Position()
		if err := s.Append([]checkpoint.Entry{put(p.Rev+1, p.Epoch, "after", "restore")}); err != nil {
			fmt.Fprintln(os.Stderr, "child append:", err)
			os.Exit(3)
		}
		os.Exit(7)
	}
	s.Close()
	os.Exit(0)
}

// TestCrashRestore stops a child at each step of a Restore and checks
// that the store is then entirely the old one or entirely the new one.
func TestCrashRestore(t *testing.T) {
	// The new state: a snapshot of a store with a history of its own.
	src := openTest(t, t.TempDir(), Options{SegmentSize: 16 << 10})
	if err := src.SetEpoch(3); err != nil {
		t.Fatal(err)
	}
	for r := uint64(1); r <= 100; r++ {
		mustAppend(t, src, put(r, 3, "new/"+strconv.FormatUint(r%10, 10), strconv.FormatUint(r, 10)))
	}
	snapPath := t.TempDir() + "/snap"
	f, err := os.Create(snapPath)
	if err != nil {
		t.Fatal(err)
	}
	newPos, err := src.Snapshot(f)
	if err != nil || f.Close() != nil {
		t.Fatal(err)
	}
	tests := []struct {
		hook    string
		wantNew bool
	}{
		{"restore:written", false},
		{"restore:renamed", true},
		{"after", true},
		{"none", true},
	}
	for _, tt := range tests {
		t.Run(tt.hook, func(t *testing.T) {
			dir := t.TempDir()
			old := openTest(t, dir, crashOptions())
			if err := old.SetEpoch(1); err != nil {
				t.Fatal(err)
			}
			for r := uint64(1); r <= 150; r++ {
				mustAppend(t, old, put(r, 1, "old/"+strconv.FormatUint(r%10, 10), strconv.FormatUint(r, 10)))
			}
			oldPos := old.Position()
			old.Close()
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=restore", dirEnv+"="+dir, hookEnv+"="+tt.hook, snapEnv+"="+snapPath)
			out, err := cmd.CombinedOutput()
			var ee *exec.ExitError
			if tt.hook == "none" {
				if err != nil {
					t.Fatalf("child: %v\n%s", err, out)
				}
			} else if !errors.As(err, &ee) || ee.ExitCode() != 7 {
				t.Fatalf("child: %v, want exit 7 at the hook\n%s", err, out)
			}
			s := openTest(t, dir, crashOptions())
			items, _, _, err := s.List("", "", 0)
			if err != nil {
				t.Fatal(err)
			}
			prefix, pos := "old/", oldPos
			if tt.wantNew {
				prefix, pos = "new/", newPos
			}
			n := 0
			for _, it := range items {
				if it.Key == "after" {
					continue
				}
				if !strings.HasPrefix(it.Key, prefix) {
					t.Fatalf("item %s in a store that should hold only %s*", it.Key, prefix)
				}
				n++
			}
			if n != 10 {
				t.Errorf("%d items, want 10", n)
			}
			got := s.Position()
			if tt.hook == "after" {
				pos.Rev++
				if it, _, err := s.Get("after"); err != nil || string(it.Value) != "restore" {
					t.Errorf("the append after the restore: %+v, %v", it, err)
				}
			}
			if got != pos {
				t.Errorf("Position = %v, want %v", got, pos)
			}
			if tt.wantNew && s.Epoch() != 3 {
				t.Errorf("Epoch = %d, want 3", s.Epoch())
			}
		})
	}
}

// TestFullDisk fills a small file system: Append fails with
// checkpoint.ErrNoSpace and nothing is lost or damaged, the store opens
// after a kill on the full disk, reads work, and appends work again once
// space is freed.
func TestFullDisk(t *testing.T) {
	testenv.Root(t)
	testenv.Tool(t, "mount")
	tests := []struct {
		name  string
		mount func(t *testing.T, dir string)
	}{
		{"tmpfs", func(t *testing.T, dir string) {
			run(t, "mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", dir)
		}},
		{"ext4", func(t *testing.T, dir string) {
			testenv.Tool(t, "mkfs.ext4")
			img := filepath.Join(t.TempDir(), "fs.img")
			if err := os.WriteFile(img, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.Truncate(img, 8<<20); err != nil {
				t.Fatal(err)
			}
			run(t, "mkfs.ext4", "-q", "-F", img)
			run(t, "mount", "-o", "loop", img, dir)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mnt := t.TempDir()
			tt.mount(t, mnt)
			t.Cleanup(func() {
				if out, err := exec.Command("umount", mnt).CombinedOutput(); err != nil {
					t.Errorf("umount %s: %v\n%s", mnt, err, out)
				}
			})
			filler := filepath.Join(mnt, "filler")
			if err := os.WriteFile(filler, make([]byte, 2<<20), 0o600); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(mnt, "store")
			// A child fills the disk and is killed while it retries.
			acked := appendUntilKilled(t, dir, []string{noSpaceEnv + "=wait"}, "nospace", 20*time.Millisecond, 0)
			t.Logf("%d revisions acknowledged before the disk was full", acked)
			checkCrashed(t, dir, acked)

			s := openTest(t, dir, crashOptions())
			var err error
			for i := 0; i < 10000; i++ {
				if err = appendNext(s); err != nil {
					break
				}
			}
			if !errors.Is(err, checkpoint.ErrNoSpace) {
				t.Fatalf("Append on a full disk = %v, want ErrNoSpace", err)
			}
			if p := s.Problems(); len(p) == 0 || !strings.Contains(strings.Join(p, " "), "disk full") {
				t.Errorf("Problems on a full disk = %q", p)
			}
			if _, _, err := s.Get(crashKey(s.Position().Rev - 1)); err != nil {
				t.Errorf("Get on a full disk: %v", err)
			}
			if err := os.Remove(filler); err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				if err = appendNext(s); err == nil {
					break
				}
				if i == 100 || !errors.Is(err, checkpoint.ErrNoSpace) {
					t.Fatalf("Append after space was freed: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			for i := 0; i < 50; i++ {
				if err := appendNext(s); err != nil {
					t.Fatal(err)
				}
			}
			waitApplied(t, s)
			for i := 0; s.Problems() != nil; i++ {
				if i == 100 {
					t.Fatalf("Problems once space was freed: %q", s.Problems())
				}
				s.wakePreparer()
				time.Sleep(50 * time.Millisecond)
			}
			last := s.Position().Rev
			s.Close()
			checkCrashed(t, dir, last)
		})
	}
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
}

// appendNext appends the next revision of the crash tests' history.
func appendNext(s *Store) error {
	e := crashEntry(s.Position().Rev + 1)
	if e.Epoch > s.Epoch() {
		if err := s.SetEpoch(e.Epoch); err != nil {
			return err
		}
	}
	return s.Append([]checkpoint.Entry{e})
}
