package checkpoint

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestNotesInStep keeps the numbers the notes give equal to the code's.
func TestNotesInStep(t *testing.T) {
	text := strings.Join(strings.Fields(notes), " ")
	for _, want := range []string{
		fmt.Sprintf("| the primary | %d |", scorePrimary),
		fmt.Sprintf("(Status.sync) | %d |", scoreSync),
		fmt.Sprintf("acknowledged write) | %d |", scoreSync),
		fmt.Sprintf("still sync | %d |", scoreCatchingUp),
		fmt.Sprintf("no node has a mark | %d |", scoreBootstrap),
		fmt.Sprintf("follows a primary | %d |", scoreOutranked),
		fmt.Sprintf("own score to %d and the peer's to %d", scoreOutranked, scorePrimary),
		fmt.Sprintf("port repl_port (%d)", defaultReplPort),
		fmt.Sprintf("SIGKILL after %s", short(storeStopTimeout)),
		fmt.Sprintf("within %s | 190", short(statusTimeout)),
		"(10ms, doubling to 200ms)",
		defaultSocketDir + "/RESOURCE.sock",
		defaultKeyFile,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the notes do not say %q", want)
		}
	}
}

func short(d time.Duration) string {
	if d%time.Second == 0 {
		return fmt.Sprintf("%ds", d/time.Second)
	}
	return fmt.Sprintf("%dms", d/time.Millisecond)
}
