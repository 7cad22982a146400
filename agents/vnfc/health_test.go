package vnfc

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"
)

// TestHealthReasonsQuote (review 2, item 6): a health value that does not
// parse is quoted briefly, after the cause, so that the cause fits in an
// exit reason.
func TestHealthReasonsQuote(t *testing.T) {
	long := strings.Repeat("A", 300)
	tests := []struct {
		name, health, cause string
	}{
		{"unknown scheme", "bogus://" + long, "want none, tcp://"},
		{"tcp without port", "tcp://" + long, "want tcp://host:port"},
		{"exec relative", "exec:" + long, "want exec:/absolute/path"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseProbe(tt.health, 2*time.Second)
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tt.cause) {
				t.Errorf("%q lacks the cause %q", msg, tt.cause)
			}
			if i := strings.Index(msg, tt.cause); i < 0 || i > 16 {
				t.Errorf("the cause comes too late in %q", msg)
			}
			if len(msg) > 120 {
				t.Errorf("%d bytes: %q", len(msg), msg)
			}
		})
	}
}

// TestHealthCutShort (review 2, item 8): a check cut short by the
// operation's deadline says so, and does not claim to have waited
// health_timeout.
func TestHealthCutShort(t *testing.T) {
	// A listener that accepts and never answers: the http check hangs.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for i := 0; i < 100; i++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	tests := []struct {
		name    string
		health  string
		timeout time.Duration // health_timeout
		op      time.Duration // what is left of the operation
		want    string
		notWant string
	}{
		{"http cut by the operation", "http://" + ln.Addr().String() + "/", 2 * time.Second, 300 * time.Millisecond, "before the operation's timeout", "within 2s"},
		{"exec cut by the operation", "exec:/bin/sleep 60", 10 * time.Minute, 300 * time.Millisecond, "before the operation's timeout", "within 10m"},
		{"http health_timeout", "http://" + ln.Addr().String() + "/", 200 * time.Millisecond, 5 * time.Second, "no answer within 200ms", "operation"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := parseProbe(tt.health, tt.timeout)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), tt.op)
			defer cancel()
			c := &config{tlsVerify: true}
			err = p.check(ctx, c)
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), tt.notWant) {
				t.Errorf("check = %v; want %q and not %q", err, tt.want, tt.notWant)
			}
		})
	}
}
