package vnfc

import (
	"fmt"
	"log"
	"os"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/ocf"
)

// helperLog is the log of the supervisor and the unit watcher. Every line
// goes to their stderr, which is the VNFC's log_file (or /dev/null), as it
// always has; and, since nothing reads a helper's stderr once start has
// returned, also to the node's log, where Pacemaker logs (the Pacemaker log
// file or syslog that Pacemaker names in the agent's environment, carried
// in the helper's spec): an operator who sees a failure in crm_mon finds
// there how the VNFC ended ("killed by signal 9"), with the resource in the
// tag: "vnfc(app:1)[PID]: ERROR: ...".
type helperLog struct {
	node *logrus.Entry
}

// newHelperLog starts the log of a helper for instance, with the prefix
// its stderr lines have always had. agent tags the node's log lines: this
// agent's name, or the one of an agent that runs a Process.
func newHelperLog(prefix string, target ocf.LogTarget, agent, instance string) helperLog {
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix(fmt.Sprintf("%s[%d]: ", prefix, os.Getpid()))
	return helperLog{node: ocf.NewHelperLogger(target, ocf.LogTag(agent, instance), nil)}
}

// Debugf logs what only a debug log needs (HA_debug): the node's log
// alone, at debug level.
func (h helperLog) Debugf(format string, args ...any) {
	h.node.Debugf(format, args...)
}

// Infof logs what an operator may want to follow: a start, a stop.
func (h helperLog) Infof(format string, args ...any) {
	log.Printf(format, args...)
	h.node.Infof(format, args...)
}

// Warnf logs what went wrong but is handled.
func (h helperLog) Warnf(format string, args ...any) {
	log.Printf(format, args...)
	h.node.Warnf(format, args...)
}

// Errorf logs a failure of the VNFC.
func (h helperLog) Errorf(format string, args ...any) {
	log.Printf(format, args...)
	h.node.Errorf(format, args...)
}
