package ocf

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"
	"unicode"
	"unicode/utf8"
)

func TestResult(t *testing.T) {
	cause := fs.ErrPermission
	tests := []struct {
		name       string
		err        error
		wantCode   Code
		wantReason string
	}{
		{"nil is success", nil, Success, ""},
		{"bare code", NotRunning, NotRunning, ""},
		{"bare promoted", RunningPromoted, RunningPromoted, ""},
		{"bare success code", Success, Success, ""},
		{"ocf error", Errorf(ErrNotConfigured, "bad ip %q", "x"), ErrNotConfigured, `bad ip "x"`},
		{"ocf error without reason", &Error{Code: ErrPerm}, ErrPerm, ""},
		{"ocf error with cause only", &Error{Code: ErrPerm, Err: cause}, ErrPerm, cause.Error()},
		{"wrapped ocf error keeps context", fmt.Errorf("start vip: %w", NotInstalled("no arping")), ErrNotInstalled, "start vip: no arping"},
		{"wrapped code", fmt.Errorf("probe: %w", NotRunning), NotRunning, "probe: not running"},
		{"plain error is generic", errors.New("disk on fire"), ErrGeneric, "disk on fire"},
		{"wrapped plain error", fmt.Errorf("write state: %w", cause), ErrGeneric, "write state: " + cause.Error()},
		{"degraded", Errorf(DegradedPromoted, "one replica behind"), DegradedPromoted, "one replica behind"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, reason := Result(tt.err)
			if code != tt.wantCode || reason != tt.wantReason {
				t.Errorf("Result(%v) = %d %q, want %d %q", tt.err, code, reason, tt.wantCode, tt.wantReason)
			}
		})
	}
}

func TestErrorfWrapsCause(t *testing.T) {
	err := Errorf(ErrGeneric, "read state: %w", fs.ErrNotExist)
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(%v, fs.ErrNotExist) = false", err)
	}
	if !errors.Is(err, ErrGeneric) {
		t.Errorf("errors.Is(%v, ErrGeneric) = false", err)
	}
	if errors.Is(err, NotRunning) {
		t.Errorf("errors.Is(%v, NotRunning) = true", err)
	}
	two := Errorf(ErrPerm, "open %w, then %w", fs.ErrPermission, fs.ErrClosed)
	if !errors.Is(two, fs.ErrPermission) || !errors.Is(two, fs.ErrClosed) {
		t.Errorf("Errorf with two %%w lost a cause: %v", two)
	}
	if plain := Errorf(ErrPerm, "no cause").(*Error); plain.Err != nil {
		t.Errorf("Errorf without %%w set Err = %v", plain.Err)
	}
	var e *Error
	if !errors.As(fmt.Errorf("outer: %w", err), &e) || e.Code != ErrGeneric {
		t.Errorf("errors.As did not find the *Error through a wrapper")
	}
}

func TestCodeValues(t *testing.T) {
	want := map[Code]int{
		Success: 0, ErrGeneric: 1, ErrArgs: 2, ErrUnimplemented: 3, ErrPerm: 4,
		ErrNotInstalled: 5, ErrNotConfigured: 6, NotRunning: 7, RunningPromoted: 8,
		FailedPromoted: 9, Degraded: 190, DegradedPromoted: 191,
	}
	for c, n := range want {
		if int(c) != n {
			t.Errorf("%s = %d, want %d", c, int(c), n)
		}
		if c.String() == fmt.Sprintf("exit code %d", n) {
			t.Errorf("code %d has no name", n)
		}
	}
	for _, c := range []Code{NotRunning, RunningPromoted, Degraded, DegradedPromoted, Success} {
		if c.IsFailure() {
			t.Errorf("%s.IsFailure() = true", c)
		}
	}
	for _, c := range []Code{ErrGeneric, FailedPromoted, ErrNotConfigured} {
		if !c.IsFailure() {
			t.Errorf("%s.IsFailure() = false", c)
		}
	}
}

// TestExitReason: every reason Run writes is at most MaxReasonLen bytes of
// valid UTF-8 on one line, and when it had to be cut the most specific
// cause comes first. Before, reasons were only joined onto one line:
// a long command line pushed the cause past what Pacemaker keeps.
func TestExitReason(t *testing.T) {
	cmdline := "/usr/bin/vnfcd --listen 198.18.0.10:8080 --role-file /run/vnfc/role --checkpoint /var/lib/vnfc/state --verbose"
	exited := Generic("exited with status 1 during start")
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"short reason kept as written", fmt.Errorf("start vip: %w", NotInstalled("no arping")), "start vip: no arping"},
		{"wrapped cause moves first",
			fmt.Errorf("start %s: %w", cmdline, exited),
			"exited with status 1 during start (start /usr/bin/vnfcd --listen 198.18.0.10:8080 --role-file /run/vnfc/role --checkpoint /v...)"},
		{"cause inside an *Error's %w",
			Errorf(ErrNotInstalled, "start %s: %w", cmdline, fs.ErrNotExist),
			"file does not exist (start /usr/bin/vnfcd --listen 198.18.0.10:8080 --role-file /run/vnfc/role --checkpoint /var/lib/vnfc/st...)"},
		{"several contexts, outermost first",
			fmt.Errorf("start: %w", fmt.Errorf("spawn supervisor for %s: %w", cmdline, &fs.PathError{Op: "fork/exec", Path: "/proc/self/exe", Err: syscall.EACCES})),
			"permission denied (start: spawn supervisor for /usr/bin/vnfcd --listen 198.18.0.10:8080 --role-file /run/vnfc/role --checkpo...)"},
		{"no chain: cut at the end", errors.New(long), long[:125] + "..."},
		{"cause too long for any context", fmt.Errorf("start: %w", errors.New(long)), long[:125] + "..."},
		{"cause not at the end stops the walk",
			fmt.Errorf("read %s: %w", long, fmt.Errorf("%w for integer: %q", ErrParamSyntax, "x")),
			`invalid value for integer: "x" (read ` + long[:87] + "...)"},
		{"newlines and tabs", Generic("line one\nline two\r\n\tline three"), "line one; line two; line three"},
		{"joined errors", NotConfigured("invalid parameters: %w", errors.Join(errors.New("a is bad"), errors.New("b is bad"))), "invalid parameters: a is bad; b is bad"},
		{"control and format characters dropped", Generic("bad\x00 name\x1b[31m red\u202e evil\x7f"), "bad name[31m red evil"},
		{"invalid UTF-8", Generic("caf\xe9 \xff"), "caf? ?"},
		{"multi-byte cut on a rune boundary", Generic("%s", strings.Repeat("é", 100)), strings.Repeat("é", 62) + "..."},
		{"empty", nil, ""},
		{"bare code", NotRunning, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := ExitReason(tt.err)
			if got != tt.want {
				t.Errorf("ExitReason =\n%q\nwant\n%q", got, tt.want)
			}
			checkReason(t, got)
		})
	}
}

// checkReason asserts what Pacemaker needs of an exit reason.
func checkReason(t *testing.T, r string) {
	t.Helper()
	if len(r) > MaxReasonLen {
		t.Errorf("reason is %d bytes, more than %d: %q", len(r), MaxReasonLen, r)
	}
	if !utf8.ValidString(r) {
		t.Errorf("reason is not UTF-8: %q", r)
	}
	for _, c := range r {
		if unicode.IsControl(c) {
			t.Errorf("reason holds control character %U: %q", c, r)
		}
	}
}

// FuzzExitReason: whatever the text and wrapping, the reason fits.
func FuzzExitReason(f *testing.F) {
	f.Add("start /bin/x", "exited with status 1", 3)
	f.Add(strings.Repeat("é", 100), "\xff\n\x00", 1)
	f.Add("", strings.Repeat("a", 200), 0)
	f.Fuzz(func(t *testing.T, context, cause string, depth int) {
		err := errors.New(cause)
		for i := 0; i < depth%5; i++ {
			err = fmt.Errorf("%s: %w", context, err)
		}
		checkReason(t, ExitReason(Errorf(ErrGeneric, "%w", err)))
	})
}

func TestQuote(t *testing.T) {
	tests := []struct{ in, want string }{
		{"/etc", `"/etc"`},
		{"", `""`},
		{"a\nb\x00", `"a\nb\x00"`},
		{"\xff\xfe", `"\xff\xfe"`},
		{strings.Repeat("a", QuoteMax-2), `"` + strings.Repeat("a", QuoteMax-2) + `"`},
		{strings.Repeat("a", QuoteMax-1), `"` + strings.Repeat("a", QuoteMax-2) + `"... (31 bytes)`},
		{strings.Repeat("a", 5000), `"` + strings.Repeat("a", QuoteMax-2) + `"... (5000 bytes)`},
		// Escapes count: 32 control bytes must not fill a reason.
		{strings.Repeat("\x01", 100), `"` + strings.Repeat(`\x01`, 7) + `"... (100 bytes)`},
		// A rune is never split.
		{strings.Repeat("é", 40), `"` + strings.Repeat("é", 15) + `"... (80 bytes)`},
	}
	for _, tt := range tests {
		got := Quote(tt.in)
		if got != tt.want {
			t.Errorf("Quote(%.40q) = %q, want %q", tt.in, got, tt.want)
		}
		if !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\x00") {
			t.Errorf("Quote(%.40q) = %q is not one clean line", tt.in, got)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"short", 10, "short"},
		{"exactly10!", 10, "exactly10!"},
		{"eleven char", 10, "eleven..."},
		{"ab€cd", 5, "ab..."},
		{"€€€", 7, "€..."},
		{"abcdef", 2, ".."},
	}
	for _, tt := range tests {
		got := Truncate(tt.in, tt.max)
		if got != tt.want || len(got) > tt.max || !utf8.ValidString(got) {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
	}
}
