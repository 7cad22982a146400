package ocf

import (
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

// LogTarget says where the lines of an agent or a helper go besides
// stderr: the node's Pacemaker log file and syslog, as resource-agents'
// ha_log writes them. It is part of Env, read from the environment
// Pacemaker gives agents, and it is JSON-serialisable so that an action
// can hand it to a helper in its spec.
//
// Writing never blocks and never fails the caller: a missing file, a full
// or absent syslog socket, drops the line.
type LogTarget struct {
	// File is appended to, one line per entry, in ha_log's format with
	// milliseconds, as Pacemaker's own lines have them:
	// "Jan 02 15:04:05.000  TAG:    LEVEL: message". "" for none. It is
	// never created: the daemon that owns it does that.
	File string `json:"file,omitempty"`
	// Facility is a syslog facility name ("daemon", "local0"...); lines go
	// to /dev/log with it. "" for none.
	Facility string `json:"facility,omitempty"`
	// Debug enables debug lines (HA_debug).
	Debug bool `json:"debug,omitempty"`
}

// Enabled reports whether t names a destination.
func (t LogTarget) Enabled() bool { return t.File != "" || t.Facility != "" }

// maxLogLine bounds one log line, fields included: enough for any reason
// an agent writes, and still bounded when a value is not (principle 5).
const maxLogLine = 2048

// syslogSocket is where syslog lines are sent; a variable for tests.
var syslogSocket = "/dev/log"

var syslogFacilities = map[string]int{
	"kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5,
	"lpr": 6, "news": 7, "uucp": 8, "cron": 9, "authpriv": 10, "ftp": 11,
	"local0": 16, "local1": 17, "local2": 18, "local3": 19,
	"local4": 20, "local5": 21, "local6": 22, "local7": 23,
}

// LogTag returns the tag of an agent's or helper's log lines, as ha_log
// writes it without the pid: "vip(myvip)", or "vip" without an instance.
// The pid is added to each line.
func LogTag(name, instance string) string {
	if instance == "" {
		return name
	}
	return name + "(" + instance + ")"
}

// NewHelperLogger returns the logger of a long-lived helper process (see
// HelperFunc): every line at info and above, and debug lines when
// target.Debug, goes to target, tagged with tag and the helper's pid. A
// helper's stderr reaches no Pacemaker log once the action that started it
// has returned, so warnings and errors go to target too. When target names
// no destination, lines go to fallback, in the format of an action's stderr;
// a nil fallback drops them.
//
// Typical use: the action puts req.Env.Log and LogTag(agent, instance) in
// the helper's spec, and the helper calls
//
//	log := ocf.NewHelperLogger(spec.Log, spec.Tag, nil)
//	log.Warnf("VNFC exited: killed by signal %d", sig)
func NewHelperLogger(target LogTarget, tag string, fallback io.Writer) *logrus.Entry {
	return newLogger(&logHook{target: target, tag: tag, pid: os.Getpid(), fallback: fallback}, target.Debug)
}

// newActionLogger returns the logger of one action. Warnings and errors go
// to stderr, where Pacemaker's executor records them in its log as
// "error output" and an operator grepping for problems finds them. Info
// and debug lines go to the node's log (env.Log), where Pacemaker logs its
// own info; with no destination there, they go to stderr only with HA_debug
// set or when stderr is a terminal (run by hand), as ha_log does.
//
// It is built per call, not shared: an agent process runs one action and
// exits, and monitor runs every few seconds, so nothing here may cost more
// than a few allocations; nothing is opened until a line is written.
func newActionLogger(stderr io.Writer, env *Env, agent, action string, terminal bool) *logrus.Entry {
	h := &logHook{target: env.Log, tag: LogTag(agent, env.Instance), pid: os.Getpid(), stderr: stderr}
	if env.Debug || terminal {
		h.fallback = stderr
	}
	return newLogger(h, env.Debug).WithFields(logrus.Fields{"rsc": env.Instance, "action": action})
}

func newLogger(h *logHook, debug bool) *logrus.Entry {
	l := logrus.New()
	// The hook does all the writing; logrus's own output is discarded
	// unformatted.
	l.Out = io.Discard
	l.Formatter = nopFormatter{}
	l.Hooks.Add(h)
	l.Level = logrus.InfoLevel
	if debug {
		l.Level = logrus.DebugLevel
	}
	return logrus.NewEntry(l)
}

type nopFormatter struct{}

func (nopFormatter) Format(*logrus.Entry) ([]byte, error) { return nil, nil }

// logHook routes each entry by level. logrus fires hooks without its
// lock, and a handler may still log while Run reports (see Run's
// watchdog), or a helper from several goroutines: mu keeps lines whole.
type logHook struct {
	mu       sync.Mutex
	target   LogTarget
	tag      string
	pid      int
	stderr   io.Writer // warnings and errors of an action; nil for a helper
	fallback io.Writer // info and debug when target has no destination
}

func (h *logHook) Levels() []logrus.Level { return logrus.AllLevels }

func (h *logHook) Fire(e *logrus.Entry) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.stderr != nil && e.Level <= logrus.WarnLevel {
		_, _ = io.WriteString(h.stderr, stderrLine(e))
		return nil
	}
	if !h.target.Enabled() {
		if h.fallback != nil {
			_, _ = io.WriteString(h.fallback, stderrLine(e))
		}
		return nil
	}
	msg := entryText(e, "rsc")
	tag := h.tag + "[" + strconv.Itoa(h.pid) + "]"
	if h.target.File != "" {
		// ha_log: `date "+%b %d %T "`" $HA_LOGTAG:    ${*}"`, where ocf_log
		// puts "LEVEL: " before the message. The milliseconds are ours:
		// with them an agent's line takes its place among the daemons'
		// lines, and a failover's timeline can be read from the file.
		appendLine(h.target.File, e.Time.Format("Jan 02 15:04:05.000")+"  "+tag+":    "+levelName(e.Level)+": "+msg+"\n")
	}
	if fac, ok := syslogFacilities[h.target.Facility]; ok && h.target.Facility != "" {
		sendSyslog(fac*8+severity(e.Level), e.Time, tag, levelName(e.Level)+": "+msg)
	}
	return nil
}

// stderrLine formats an entry as logfmt, the form an action's stderr has
// always had: `level=warning msg="..." action=stop rsc=vip`.
func stderrLine(e *logrus.Entry) string {
	var b strings.Builder
	b.WriteString("level=")
	b.WriteString(e.Level.String())
	b.WriteString(" msg=")
	b.WriteString(logfmtValue(e.Message))
	for _, k := range sortedKeys(e.Data) {
		b.WriteString(" " + k + "=" + logfmtValue(fieldText(e.Data[k])))
	}
	return Truncate(b.String(), maxLogLine) + "\n"
}

// entryText is an entry's message and fields as one bounded line, for the
// log file and syslog. skip names a field the tag already shows.
func entryText(e *logrus.Entry, skip string) string {
	var b strings.Builder
	b.WriteString(OneLine(e.Message))
	for _, k := range sortedKeys(e.Data) {
		if k != skip {
			b.WriteString(" " + k + "=" + logfmtValue(fieldText(e.Data[k])))
		}
	}
	return Truncate(b.String(), maxLogLine)
}

func sortedKeys(m logrus.Fields) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func fieldText(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case error:
		return v.Error()
	case interface{ String() string }:
		return v.String()
	}
	return fmt.Sprint(v)
}

// logfmtValue quotes a value when it is empty or holds spaces, quotes,
// "=" or anything outside printable ASCII, so every line parses back.
func logfmtValue(s string) string {
	s = Truncate(OneLine(s), maxLogLine)
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '=' || r == '\\' || r >= 0x7f {
			return strconv.Quote(s)
		}
	}
	return s
}

func levelName(l logrus.Level) string {
	switch l {
	case logrus.DebugLevel, logrus.TraceLevel:
		return "DEBUG"
	case logrus.InfoLevel:
		return "INFO"
	case logrus.WarnLevel:
		return "WARNING"
	case logrus.ErrorLevel:
		return "ERROR"
	}
	return "CRIT"
}

func severity(l logrus.Level) int {
	switch l {
	case logrus.DebugLevel, logrus.TraceLevel:
		return 7
	case logrus.InfoLevel:
		return 6
	case logrus.WarnLevel:
		return 4
	case logrus.ErrorLevel:
		return 3
	}
	return 2
}

// appendLine appends line to path with one write(2) (O_APPEND keeps lines
// of concurrent writers whole). Raw system calls, not os.File: a FIFO at
// path would put an os.File in Go's poller, where a write can wait; here
// O_NONBLOCK makes it fail at once instead, and the line is dropped.
func appendLine(path, line string) {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_APPEND|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return
	}
	_, _ = unix.Write(fd, []byte(line))
	_ = unix.Close(fd)
}

// sendSyslog sends one RFC 3164 line to the local syslog socket, without
// waiting: log/syslog would dial, retry and block on a busy daemon, and
// costs more in the binary than these few lines.
func sendSyslog(priority int, t time.Time, tag, msg string) {
	fd, err := unix.Socket(unix.AF_UNIX, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		return
	}
	defer unix.Close(fd)
	line := "<" + strconv.Itoa(priority) + ">" + t.Format(time.Stamp) + " " + tag + ": " + msg
	_ = unix.Sendto(fd, []byte(line), unix.MSG_DONTWAIT|unix.MSG_NOSIGNAL, &unix.SockaddrUnix{Name: syslogSocket})
}

// isTerminal reports whether w is a terminal, as ha_log's `tty` check does.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
