package store

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/checkpoint"
)

// The crash tests run the test binary again as a child that works on a
// store until it is killed (or exits at a hook), then check what the
// parent finds when it opens the store.
const (
	childEnv = "VNFHA_STORE_CHILD"
	dirEnv   = "VNFHA_STORE_DIR"
	hookEnv  = "VNFHA_STORE_HOOK"
	snapEnv  = "VNFHA_STORE_SNAPSHOT"
)

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "append":
		childAppend()
	case "restore":
		childRestore()
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
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=append", dirEnv+"="+dir)
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
		// Kill it at a random moment after it opened the store.
		deadline := time.After(time.Duration(5+rand.IntN(60)) * time.Millisecond)
		opened := false
	read:
		for {
			select {
			case l, ok := <-lines:
				if !ok {
					break read
				}
				f := strings.Fields(l)
				if len(f) == 2 && f[0] == "open" {
					opened = true
					if r, _ := strconv.ParseUint(f[1], 10, 64); r < acked {
						cmd.Process.Kill()
						t.Fatalf("round %d: the child opened the store at revision %d, but %d was acknowledged", round, r, acked)
					}
				}
				if len(f) == 2 && f[0] == "ok" {
					r, _ := strconv.ParseUint(f[1], 10, 64)
					acked = max(acked, r)
				}
			case <-deadline:
				if opened {
					cmd.Process.Kill()
					deadline = nil
				} else {
					deadline = time.After(10 * time.Millisecond)
				}
			case <-time.After(30 * time.Second):
				cmd.Process.Kill()
				t.Fatalf("round %d: the child did nothing for 30s", round)
			}
		}
		err = cmd.Wait()
		if st := stderr.String(); st != "" || err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: child: %v\n%s", round, err, st)
		}
		checkCrashed(t, dir, acked)
	}
	t.Logf("%d rounds, %d revisions acknowledged", rounds, acked)
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
