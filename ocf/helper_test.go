package ocf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/procid"
)

// testHelperAgent is the agent name under which StartHelper re-executes
// this test binary (HelperCommand runs /proc/self/exe) as a helper.
const testHelperAgent = "helpertest"

// init runs the helper when this binary was started as one, before the
// testing package looks at the arguments it would not understand.
func init() {
	if len(os.Args) >= 4 && os.Args[0] == helperArgv0 && os.Args[1] == HelperArg && os.Args[2] == testHelperAgent {
		os.Exit(runTestHelper(os.Args[3], os.Args[4:]))
	}
}

// testSpec is what the tests send their helpers.
type testSpec struct {
	Token string `json:"token"`
	Pad   string `json:"pad,omitempty"`
}

// helperReport is what a test helper writes on its stdout for the test to
// check, as one JSON object.
type helperReport struct {
	Spec        testSpec `json:"spec"`
	Env         []string `json:"env"`
	Session     bool     `json:"session"` // it leads its own session
	Extra       string   `json:"extra,omitempty"`
	Child       int      `json:"child,omitempty"` // a process it started
	SecondFail  string   `json:"second_fail,omitempty"`
	StatusCloex bool     `json:"status_cloexec"`
}

// runTestHelper is the helper's main: name says how it behaves.
func runTestHelper(name string, args []string) int {
	out := json.NewEncoder(os.Stdout)
	conn, err := OpenHelper()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	var rep helperReport
	rep.Env = os.Environ()
	sid, _ := unix.Getsid(0)
	rep.Session = sid == os.Getpid()
	if fl, err := unix.FcntlInt(HelperStatusFD, unix.F_GETFD, 0); err == nil {
		rep.StatusCloex = fl&unix.FD_CLOEXEC != 0
	}
	switch name {
	case "silent":
		return 3
	case "hang":
		// Something in its group, as a helper's own child would be.
		child := exec.Command("sleep", "60")
		if err := child.Start(); err == nil {
			rep.Child = child.Process.Pid
		}
		out.Encode(rep)
		time.Sleep(time.Minute)
		return 0
	case "hang-term":
		// Ends cleanly on SIGTERM, as a helper that must end what it
		// started would.
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM)
		out.Encode(rep)
		select {
		case <-sigs:
			fmt.Println("cleaned up")
			return 0
		case <-time.After(time.Minute):
			return 0
		}
	case "reason":
		conn.Fail("cannot start %s: %v", strings.Join(args, " "), errors.New("no such thing"))
		return 1
	case "long-reason":
		conn.Fail("%s", strings.Repeat("line\nwith\x00control é ", 1000))
		return 1
	case "fake-ok":
		conn.Fail("ok")
		return 1
	case "unterminated":
		// A raw status without a newline, then exit: the parent takes
		// what came before end-of-file as the line.
		os.NewFile(HelperStatusFD, "status").WriteString("raw reason")
		return 1
	case "too-long":
		// A raw status longer than any reason, with no newline, and the
		// helper stays: the parent must not wait for more.
		os.NewFile(HelperStatusFD, "status").WriteString(strings.Repeat("x", 10*MaxHelperReason))
		time.Sleep(time.Minute)
		return 0
	}
	if err := conn.ReadSpec(&rep.Spec); err != nil {
		conn.Fail("%v", err)
		return 2
	}
	switch name {
	case "ok":
	case "work":
		// Work before ready: start something in another process group,
		// as vnfc's supervisor starts the VNFC, and report after.
		child := exec.Command("sleep", "60")
		child.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := child.Start(); err != nil {
			conn.Fail("start child: %v", err)
			return 1
		}
		rep.Child = child.Process.Pid
		time.Sleep(100 * time.Millisecond)
	case "extra":
		f, err := conn.File(0, "extra")
		if err != nil {
			conn.Fail("%v", err)
			return 1
		}
		b, err := io.ReadAll(io.LimitReader(f, 100))
		if err != nil {
			conn.Fail("read extra file: %v", err)
			return 1
		}
		rep.Extra = string(b)
	default:
		conn.Fail("no test helper %q", name)
		return 2
	}
	out.Encode(rep)
	if err := conn.Ready(); err != nil {
		return 1
	}
	if err := conn.Fail("too late"); err == nil || !conn.Reported() {
		fmt.Println("a second report was accepted")
	}
	// Outlive the parent's StartHelper, as a real helper does.
	time.Sleep(time.Minute)
	return 0
}

// outputFile returns a file for a helper's output and a function that
// reads what the helper wrote.
func outputFile(t *testing.T) (*os.File, func() string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "out")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f, func() string {
		b, _ := os.ReadFile(path)
		return string(b)
	}
}

// readReport waits (bounded) for the helper's report on its output.
func readReport(t *testing.T, read func() string) helperReport {
	t.Helper()
	var rep helperReport
	for i := 0; i < 500; i++ {
		if s := read(); strings.Contains(s, "\n") {
			if err := json.Unmarshal([]byte(strings.SplitN(s, "\n", 2)[0]), &rep); err != nil {
				t.Fatalf("helper output %q: %v", s, err)
			}
			return rep
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("the helper wrote no report: %q", read())
	return rep
}

// reap kills a helper that StartHelper left running and reaps it: in the
// tests the parent lives on, where a real agent would exit and leave the
// helper to init.
func reap(t *testing.T, id procid.ID) {
	t.Helper()
	t.Cleanup(func() {
		syscall.Kill(-id.PID, syscall.SIGKILL)
		id.Signal(syscall.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(id.PID, &ws, 0, nil)
	})
}

// killLater kills pid at the end of the test, if it is still what id says.
func killLater(t *testing.T, pid int) {
	t.Helper()
	id, err := procid.Of(pid)
	if err != nil {
		return
	}
	t.Cleanup(func() { id.Signal(syscall.SIGKILL) })
}

// assertGone checks that StartHelper left no helper behind: it was reaped,
// so its pid has no /proc entry at all.
func assertGone(t *testing.T, pid int) {
	t.Helper()
	if pid <= 0 {
		t.Fatalf("no pid in the error")
	}
	if _, err := os.Stat("/proc/" + strconv.Itoa(pid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("helper pid %d still has a /proc entry (%v)", pid, err)
	}
}

func TestStartHelperReady(t *testing.T) {
	tests := []struct {
		name  string
		env   []string
		extra string
	}{
		{name: "ok", env: []string{"A=1", "PATH=/usr/bin:/bin"}},
		{name: "ok", env: nil},
		{name: "work", env: []string{"PATH=/usr/bin:/bin"}},
		{name: "extra", extra: "from the parent"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%d-env", tt.name, len(tt.env)), func(t *testing.T) {
			out, read := outputFile(t)
			h := HelperStart{
				Agent: testHelperAgent, Name: tt.name, Args: []string{"inst"},
				Spec: testSpec{Token: "t-" + tt.name}, Env: tt.env, Output: out,
			}
			if tt.extra != "" {
				r, w, err := os.Pipe()
				if err != nil {
					t.Fatal(err)
				}
				defer r.Close()
				w.WriteString(tt.extra)
				w.Close()
				h.ExtraFiles = []*os.File{r}
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			id, err := StartHelper(ctx, h)
			if err != nil {
				t.Fatalf("StartHelper: %v", err)
			}
			reap(t, id)
			rep := readReport(t, read)
			if rep.Child != 0 {
				killLater(t, rep.Child)
			}
			if !id.Alive() {
				t.Error("the helper does not run after it reported ready")
			}
			args, err := id.Cmdline()
			if want := []string{helperArgv0, HelperArg, testHelperAgent, tt.name, "inst"}; err != nil || !slices.Equal(args, want) {
				t.Errorf("helper cmdline = %q, %v; want %q", args, err, want)
			}
			if rep.Spec.Token != "t-"+tt.name {
				t.Errorf("helper got spec %+v", rep.Spec)
			}
			if !slices.Equal(rep.Env, tt.env) && (len(tt.env) != 0 || len(rep.Env) != 0) {
				t.Errorf("helper environment = %q, want %q", rep.Env, tt.env)
			}
			if !rep.Session {
				t.Error("the helper does not lead a session of its own")
			}
			if !rep.StatusCloex {
				t.Error("the status pipe is not close-on-exec in the helper")
			}
			if rep.Extra != tt.extra {
				t.Errorf("helper read %q from its extra file, want %q", rep.Extra, tt.extra)
			}
			if tt.name == "work" {
				c, err := procid.Of(rep.Child)
				if err != nil || !c.Alive() {
					t.Errorf("what the helper started before ready does not run: %v", err)
				}
			}
			// The second report was refused: the helper printed nothing
			// after its report.
			time.Sleep(50 * time.Millisecond)
			if strings.Contains(read(), "accepted") {
				t.Error("Fail after Ready was accepted")
			}
		})
	}
}

func TestStartHelperFails(t *testing.T) {
	tests := []struct {
		name      string
		spec      any
		timeout   time.Duration
		grace     time.Duration
		reason    string // the error's exact message, if set
		contains  []string
		deadline  bool // the error wraps context.DeadlineExceeded
		hasChild  bool // the helper started a child in its group
		wantOut   string
		checkLine func(t *testing.T, msg string)
	}{
		{name: "reason", spec: testSpec{}, reason: "cannot start inst: no such thing"},
		{name: "fake-ok", reason: "helper failed: ok"},
		{name: "unterminated", reason: "raw reason"},
		{name: "silent", contains: []string{"helpertest silent helper ended without reporting ready", "exit status 3"}},
		{name: "nonexistent", spec: testSpec{}, reason: `no test helper "nonexistent"`},
		{name: "hang", timeout: 500 * time.Millisecond, deadline: true, hasChild: true,
			contains: []string{"did not report ready in time", "signal: killed"}},
		{name: "hang-term", timeout: 300 * time.Millisecond, grace: 5 * time.Second, deadline: true,
			contains: []string{"did not report ready in time", "exit status 0"}, wantOut: "cleaned up"},
		{name: "too-long", timeout: 10 * time.Second, checkLine: func(t *testing.T, msg string) {
			if len(msg) > MaxHelperReason || !strings.HasPrefix(msg, "xxxx") {
				t.Errorf("reason of %d bytes: %.40q...", len(msg), msg)
			}
		}},
		{name: "long-reason", checkLine: func(t *testing.T, msg string) {
			if len(msg) > MaxHelperReason || strings.ContainsAny(msg, "\n\x00") || !utf8.ValidString(msg) || !strings.HasPrefix(msg, "line with control") {
				t.Errorf("reason not bounded to one line of %d bytes: %q", MaxHelperReason, msg)
			}
		}},
		// The helper never reads its spec and the spec is larger than a
		// pipe holds: the parent's write must end with the deadline too.
		{name: "hang", spec: testSpec{Pad: strings.Repeat("p", 512<<10)}, timeout: 500 * time.Millisecond,
			deadline: true, hasChild: true, contains: []string{"did not report ready in time"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, read := outputFile(t)
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 10 * time.Second
			}
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			id, err := StartHelper(ctx, HelperStart{
				Agent: testHelperAgent, Name: tt.name, Args: []string{"inst"},
				Spec: tt.spec, Output: out, StopGrace: tt.grace,
				Env: []string{"PATH=/usr/bin:/bin"},
			})
			if err == nil {
				reap(t, id)
				t.Fatalf("StartHelper succeeded: %v", id)
			}
			var herr *HelperError
			if !errors.As(err, &herr) {
				t.Fatalf("error %v is not a *HelperError", err)
			}
			assertGone(t, herr.PID)
			msg := err.Error()
			if tt.reason != "" && msg != tt.reason {
				t.Errorf("error = %q, want %q", msg, tt.reason)
			}
			for _, c := range tt.contains {
				if !strings.Contains(msg, c) {
					t.Errorf("error %q lacks %q", msg, c)
				}
			}
			if got := errors.Is(err, context.DeadlineExceeded); got != tt.deadline {
				t.Errorf("errors.Is(err, DeadlineExceeded) = %v, want %v", got, tt.deadline)
			}
			if tt.checkLine != nil {
				tt.checkLine(t, msg)
			}
			if tt.hasChild {
				rep := readReport(t, read)
				c, err := procid.Of(rep.Child)
				if err == nil && c.Alive() {
					c.Signal(syscall.SIGKILL)
					t.Errorf("the helper's child %d outlived the failed start", rep.Child)
				}
			}
			if tt.wantOut != "" && !strings.Contains(read(), tt.wantOut) {
				t.Errorf("helper output %q lacks %q", read(), tt.wantOut)
			}
		})
	}
}

func TestStartHelperRefuses(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	tests := []struct {
		name string
		ctx  context.Context
		h    HelperStart
	}{
		{"oversized spec", context.Background(), HelperStart{Agent: testHelperAgent, Name: "ok", Spec: testSpec{Pad: strings.Repeat("p", MaxHelperSpec)}}},
		{"unencodable spec", context.Background(), HelperStart{Agent: testHelperAgent, Name: "ok", Spec: func() {}}},
		{"no agent", context.Background(), HelperStart{Name: "ok"}},
		{"no name", context.Background(), HelperStart{Agent: testHelperAgent}},
		{"context already ended", cancelled, HelperStart{Agent: testHelperAgent, Name: "ok", Spec: testSpec{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, read := outputFile(t)
			tt.h.Output = out
			id, err := StartHelper(tt.ctx, tt.h)
			if err == nil {
				reap(t, id)
				t.Fatal("StartHelper succeeded")
			}
			var herr *HelperError
			if errors.As(err, &herr) && herr.PID != 0 {
				t.Errorf("a helper was started: %v", err)
			}
			// Nothing ran: the helper would have written its report.
			time.Sleep(20 * time.Millisecond)
			if s := read(); s != "" {
				t.Errorf("the helper ran and wrote %q", s)
			}
		})
	}
}

func TestReadHelperSpec(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		wantErr string
	}{
		{"ok", `{"token":"a"}`, ""},
		{"ok with newline", "{\"token\":\"a\"}\n", ""},
		{"oversized", `{"token":"a","pad":"` + strings.Repeat("p", MaxHelperSpec) + `"}`, "larger than"},
		{"unknown field", `{"token":"a","other":1}`, "unknown field"},
		{"trailing data", `{"token":"a"}{}`, "data after"},
		{"empty", ``, "decode helper spec"},
		{"not json", `token=a`, "decode helper spec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s testSpec
			err := readHelperSpec(strings.NewReader(tt.in), &s)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("readHelperSpec: %v", err)
			case tt.wantErr == "" && s.Token != "a":
				t.Errorf("spec = %+v", s)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("readHelperSpec = %v, want an error with %q", err, tt.wantErr)
			}
		})
	}
}

func TestBoundReason(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"plain", "plain"},
		{" two\nlines\r\n", "two lines"},
		{"nul\x00and\ttab", "nul and tab"},
		{"bad \xff utf8", "bad   utf8"},
		{strings.Repeat("a", MaxHelperReason), strings.Repeat("a", MaxHelperReason)},
		{strings.Repeat("a", MaxHelperReason+1), strings.Repeat("a", MaxHelperReason-3) + "..."},
		// A cut inside a two-byte rune moves back to its start.
		{strings.Repeat("é", MaxHelperReason), strings.Repeat("é", (MaxHelperReason-3)/2) + "..."},
	}
	for _, tt := range tests {
		got := boundReason(tt.in)
		if got != tt.want {
			t.Errorf("boundReason(%.20q...) = %.40q..., want %.40q...", tt.in, got, tt.want)
		}
		if len(got) > MaxHelperReason || !utf8.ValidString(got) {
			t.Errorf("boundReason(%.20q...) is %d bytes or invalid UTF-8", tt.in, len(got))
		}
	}
}

func TestTakeFD(t *testing.T) {
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	tests := []struct {
		name string
		fd   int
		mode uint32
		ok   bool
	}{
		{"pipe as a pipe", int(r.Fd()), unix.S_IFIFO, true},
		{"device as a pipe", int(devNull.Fd()), unix.S_IFIFO, false},
		{"device, any type", int(devNull.Fd()), 0, true},
		{"closed", 1 << 20, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// takeFD wraps the number in a new *os.File; dup it so that
			// the test's own files are not closed twice.
			fd := tt.fd
			if fd < 1<<20 {
				if fd, err = unix.Dup(tt.fd); err != nil {
					t.Fatal(err)
				}
				defer unix.Close(fd)
			}
			f, err := takeFD(fd, tt.name, tt.mode)
			if (err == nil) != tt.ok {
				t.Fatalf("takeFD = %v, want ok=%v", err, tt.ok)
			}
			if f == nil {
				return
			}
			fl, err := unix.FcntlInt(uintptr(fd), unix.F_GETFD, 0)
			if err != nil || fl&unix.FD_CLOEXEC == 0 {
				t.Errorf("fd not close-on-exec: %#x, %v", fl, err)
			}
		})
	}
}
