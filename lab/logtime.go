package lab

import (
	"fmt"
	"time"
)

// LogTick is the resolution of the stamps in a node's pacemaker.log:
// libqb reads CLOCK_REALTIME_COARSE (one jiffy, 4 ms here) and prints
// milliseconds, truncated. A line stamped t was written in
// [t, t+LogTick).
const LogTick = 5 * time.Millisecond

// LogTime reads the stamp of a line of a lab node's pacemaker.log (the
// file PCMK_logfile names): Pacemaker's daemons write
// "Dec 04 03:01:35.606 node1 pacemaker-controld ...", and vnfha's agents
// "Dec 04 03:01:35.606  vip(app-vip)[135]: ...". The stamp is local time
// without a year: it is read in near's location, and its year is near's,
// or the one before or after for a stamp more than half a year away.
func LogTime(line string, near time.Time) (time.Time, error) {
	const layout = "Jan _2 15:04:05.000"
	if len(line) < len(layout) {
		return time.Time{}, fmt.Errorf("no timestamp in log line %.80q", line)
	}
	t, err := time.ParseInLocation(layout, line[:len(layout)], near.Location())
	if err != nil {
		return time.Time{}, fmt.Errorf("timestamp of log line %.80q: %w", line, err)
	}
	t = t.AddDate(near.Year()-t.Year(), 0, 0)
	switch d := t.Sub(near); {
	case d > 180*24*time.Hour:
		t = t.AddDate(-1, 0, 0)
	case d < -180*24*time.Hour:
		t = t.AddDate(1, 0, 0)
	}
	return t, nil
}
