package ocf

import (
	"io"

	"github.com/sirupsen/logrus"
)

// newLogger returns the logger of one invocation. Pacemaker's executor puts
// an agent's stderr in its own log with a timestamp, so ours leaves the
// timestamp out. It is built per call, not shared: an agent process runs
// one action and exits, and monitor runs every few seconds, so nothing here
// may cost more than a few allocations.
func newLogger(w io.Writer, env *Env, action string) *logrus.Entry {
	l := logrus.New()
	l.Out = w
	l.Formatter = &logrus.TextFormatter{DisableTimestamp: true, DisableColors: true}
	l.Level = logrus.InfoLevel
	if env.Debug {
		l.Level = logrus.DebugLevel
	}
	return l.WithFields(logrus.Fields{"rsc": env.Instance, "action": action})
}
