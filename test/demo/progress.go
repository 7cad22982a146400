package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// progress tells the user what the demo does: which step, how long it
// has taken, and, during a wait, that it is still alive and what for.
type progress struct {
	mu        sync.Mutex
	w         io.Writer
	start     time.Time
	n, total  int
	stepStart time.Time
}

func newProgress(w io.Writer, total int) *progress {
	return &progress{w: w, start: time.Now(), total: total}
}

func (p *progress) stamp() string {
	return fmt.Sprintf("[%5.1fs]", time.Since(p.start).Seconds())
}

func (p *progress) step(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n++
	p.stepStart = time.Now()
	fmt.Fprintf(p.w, "\n%s step %d/%d: %s\n", p.stamp(), p.n, p.total, name)
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s step %d/%d done in %.1fs\n", p.stamp(), p.n, p.total, time.Since(p.stepStart).Seconds())
}

func (p *progress) failed(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s step %d/%d FAILED after %.1fs: %v\n", p.stamp(), p.n, p.total, time.Since(p.stepStart).Seconds(), err)
}

// say prints a line of the step's own.
func (p *progress) say(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "%s   %s\n", p.stamp(), fmt.Sprintf(format, args...))
}

// detail prints lines of output under the step, indented.
func (p *progress) detail(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range strings.Split(fmt.Sprintf(format, args...), "\n") {
		fmt.Fprintf(p.w, "            %s\n", l)
	}
}

// waitFor polls cond every interval until it holds, ctx ends or timeout
// passes; every 5s it says it still waits, and for what (cond's last
// word).
func (p *progress) waitFor(ctx context.Context, what string, timeout, interval time.Duration, cond func() (bool, string)) error {
	start := time.Now()
	deadline := start.Add(timeout)
	nextSay := start.Add(5 * time.Second)
	p.say("waiting until %s", what)
	for {
		ok, why := cond()
		if ok {
			p.say("%s (after %.1fs)", what, time.Since(start).Seconds())
			return nil
		}
		now := time.Now()
		if now.After(deadline) {
			return fmt.Errorf("%s: not within %s: %s", what, timeout, why)
		}
		if now.After(nextSay) {
			p.say("… still waiting (%.0fs): %s", now.Sub(start).Seconds(), why)
			nextSay = now.Add(5 * time.Second)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w", what, ctx.Err())
		case <-time.After(interval):
		}
	}
}
