package vnfc

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/systemd"
	"github.com/vnfha/vnfha/ocf"
)

// TestNotesInStep keeps the numbers the reference page's notes give equal
// to the constants the code uses.
func TestNotesInStep(t *testing.T) {
	short := func(d time.Duration) string {
		switch {
		case d >= time.Hour && d%time.Hour == 0:
			return fmt.Sprintf("%dh", d/time.Hour)
		case d >= time.Minute && d%time.Minute == 0:
			return fmt.Sprintf("%dmin", d/time.Minute)
		case d >= time.Second && d%time.Second == 0:
			return fmt.Sprintf("%ds", d/time.Second)
		}
		return fmt.Sprintf("%dms", d/time.Millisecond)
	}
	var settleDefault string
	for _, p := range Agent.Params {
		if p.Name == "settle_time" {
			settleDefault = p.Default
		}
	}
	for _, want := range []string{
		"at most " + short(maxStopTimeout),
		"at most " + short(maxHealthTimeout),
		"settle_time 0 to " + short(maxSettle),
		"settle_time (default " + settleDefault + ")",
		fmt.Sprintf("read every %s for at most %s", short(pidfilePoll), short(pidfileWait)),
		fmt.Sprintf("at most %d bytes of it", pidfileMax+1),
		fmt.Sprintf("(over %d bytes)", pidfileMax),
		fmt.Sprintf("longer than %d bytes", ocf.MaxNameLen),
		fmt.Sprintf("at most %d bytes long", ocf.QuoteMax),
		fmt.Sprintf("at most %s for the query, %s for the restore", short(scoreQueryTimeout), short(scoreRestoreTimeout)),
		fmt.Sprintf("10 when the instance is promoted, %d otherwise", scoreUnpromoted),
		"for at most " + short(watchGiveUp),
		"within " + short(watchGiveUp) + " logs that the VNFC runs unwatched and tries again every " + short(watchRetry),
		"cannot reach systemd for " + short(systemd.RetryWindow) + " fails",
		"so that " + short(killReserve) + " (or half",
		"again every " + short(systemd.KillPoll),
		dropInName,
		fmt.Sprintf("nice outside %d..%d", minNice, maxNice),
	} {
		if !strings.Contains(strings.Join(strings.Fields(notes), " "), want) {
			t.Errorf("the notes do not say %q", want)
		}
	}
}
