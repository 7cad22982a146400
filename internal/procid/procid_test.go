package procid

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	tests := []struct {
		file string
		want Stat
	}{
		{"stat-cat.txt", Stat{State: 'R', PPID: 29199, PGID: 29199, Session: 17341, Start: 819452}},
		{"stat-parens.txt", Stat{State: 'S', PPID: 29227, PGID: 29224, Session: 17341, Start: 819691}},
		{"stat-stopped.txt", Stat{State: 'T', PPID: 29199, PGID: 29199, Session: 17341, Start: 819483}},
		{"stat-zombie.txt", Stat{State: 'Z', PPID: 29251, PGID: 29249, Session: 17341, Start: 820041}},
		{"stat-nice.txt", Stat{State: 'S', PPID: 958, PGID: 956, Session: 7263, Nice: -7, Start: 1383233}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseStat(b)
			if err != nil || got != tt.want {
				t.Errorf("ParseStat = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseStatRefuses(t *testing.T) {
	for _, bad := range []string{
		"",
		"1 (x",
		"1 (x) R",
		"1 (x)R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (x) R a 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (x) RS 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 -5",
		"1 (x) 1 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (x) R 1 1 s 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5",
		"1 (x) R 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 n 1 0 5",
	} {
		if got, err := ParseStat([]byte(bad)); err == nil {
			t.Errorf("ParseStat(%q) = %+v, want an error", bad, got)
		}
	}
}

// startSleep starts a child that sleeps and is killed at the end of the
// test.
func startSleep(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Process.Wait()
	})
	return cmd
}

// zombie returns the ID of a child that has exited and is not reaped.
func zombie(t *testing.T) ID {
	t.Helper()
	cmd := startSleep(t)
	id, err := Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Wait for the zombie without reaping it.
	for i := 0; i < 500; i++ {
		if s, err := ReadStat(id.PID); err == nil && s.Zombie() {
			return id
		}
		time.Sleep(2 * time.Millisecond)
	}
	t.Fatal("the killed child never became a zombie")
	return ID{}
}

func TestAlive(t *testing.T) {
	self, err := Self()
	if err != nil {
		t.Fatal(err)
	}
	child, err := Of(startSleep(t).Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		id   ID
		want bool
	}{
		{"self", self, true},
		{"running child", child, true},
		{"recycled pid", ID{PID: self.PID, Start: self.Start + 1}, false},
		{"zombie", zombie(t), false},
		{"zero", ID{}, false},
		{"negative", ID{PID: -1}, false},
		{"no such pid", ID{PID: 1 << 30}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.Alive(); got != tt.want {
				t.Errorf("%v.Alive() = %v, want %v", tt.id, got, tt.want)
			}
		})
	}
}

func TestSignal(t *testing.T) {
	t.Run("delivers", func(t *testing.T) {
		cmd := startSleep(t)
		id, err := Of(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		if err := id.Signal(syscall.SIGTERM); err != nil {
			t.Fatalf("Signal: %v", err)
		}
		st, _ := cmd.Process.Wait()
		if ws := st.Sys().(syscall.WaitStatus); !ws.Signaled() || ws.Signal() != syscall.SIGTERM {
			t.Errorf("child ended with %v, want SIGTERM", st)
		}
	})
	t.Run("refuses a recycled pid", func(t *testing.T) {
		cmd := startSleep(t)
		id, err := Of(cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		// The same pid with another start time stands for a process
		// that has gone, its pid now the child's.
		stale := ID{PID: id.PID, Start: id.Start - 1}
		if err := stale.Signal(syscall.SIGKILL); !errors.Is(err, ErrGone) {
			t.Errorf("Signal of a recycled pid = %v, want ErrGone", err)
		}
		if !id.Alive() {
			t.Error("the process under the recycled pid was signalled")
		}
	})
	t.Run("zombie", func(t *testing.T) {
		if err := zombie(t).Signal(syscall.SIGKILL); !errors.Is(err, ErrGone) {
			t.Errorf("Signal of a zombie = %v, want ErrGone", err)
		}
	})
	t.Run("zero", func(t *testing.T) {
		if err := (ID{}).Signal(syscall.SIGKILL); !errors.Is(err, ErrGone) {
			t.Errorf("Signal of pid 0 = %v, want ErrGone", err)
		}
	})
}

func TestWaitExit(t *testing.T) {
	cmd := startSleep(t)
	id, err := Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if id.WaitExit(20 * time.Millisecond) {
		t.Fatal("WaitExit says a sleeping child exited")
	}
	go func() {
		time.Sleep(20 * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
	}()
	// Generous bound: the test checks that the exit is seen, not how fast.
	if !id.WaitExit(10 * time.Second) {
		t.Fatal("WaitExit did not see the child killed")
	}
	if !zombie(t).WaitExit(0) {
		t.Error("WaitExit(0) of a zombie = false")
	}
}

func TestCmdline(t *testing.T) {
	// sh ignores its extra arguments; sleep would refuse them and exit,
	// racing the read.
	cmd := exec.Command("sh", "-c", "sleep 60; :", "sh", "a b", "")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true} // so sleep goes too
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Process.Wait() }()
	id, err := Of(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// exec has completed once /proc shows the new program's arguments;
	// Start returns before that.
	var got []string
	for i := 0; i < 1000; i++ {
		if got, err = id.Cmdline(); err == nil && len(got) > 0 && got[0] == "sh" {
			break
		}
		time.Sleep(time.Millisecond)
	}
	if want := []string{"sh", "-c", "sleep 60; :", "sh", "a b", ""}; !slices.Equal(got, want) {
		t.Errorf("Cmdline = %q, %v; want %q", got, err, want)
	}
	if _, err := (ID{PID: id.PID, Start: id.Start + 1}).Cmdline(); !errors.Is(err, ErrGone) {
		t.Errorf("Cmdline of a recycled pid = %v, want ErrGone", err)
	}
	if args, err := Cmdline(zombie(t).PID); err != nil || len(args) != 0 {
		t.Errorf("Cmdline of a zombie = %q, %v; want none", args, err)
	}
}

func FuzzParseStat(f *testing.F) {
	files, _ := filepath.Glob("testdata/stat-*.txt")
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("1 ()) R 0 0"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseStat(b)
		if err != nil {
			return
		}
		// Whatever parsed has a one-letter state after the last ')'.
		if !isStateLetter(s.State) {
			t.Errorf("parsed %q with state %q", b, s.State)
		}
	})
}
