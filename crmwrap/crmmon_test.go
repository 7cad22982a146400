package crmwrap

import (
	"context"
	"strings"
	"testing"

	"github.com/vnfha/vnfha/crmwrap/internal/fixture"
)

func TestStatusCommand(t *testing.T) {
	running := fixture.Read(t, "crmmon/testdata/promotable-running.xml")
	notRunning := fixture.Read(t, "crmmon/testdata/not-running.xml")
	tests := []struct {
		name     string
		reply    reply
		wantErr  string
		wantCode int
		wantSt   bool
	}{
		{name: "ok", reply: reply{stdout: running}, wantSt: true},
		{
			// crm_mon prints a result document even when it cannot reach
			// the cluster; the code and message come from there.
			name:     "not connected",
			reply:    reply{code: 102, stdout: notRunning},
			wantErr:  "Not connected (code 102): error: Could not connect to launcher",
			wantCode: 102,
			wantSt:   true,
		},
		{
			name:     "garbage on failure",
			reply:    reply{code: 1, stdout: []byte("crm_mon: oops"), stderr: "boom"},
			wantErr:  "boom",
			wantCode: 1,
		},
		{name: "garbage on success", reply: reply{stdout: []byte("<nope/>")}, wantErr: "parse crm_mon XML", wantCode: -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, f := newFake(tt.reply)
			st, err := c.Status(context.Background())
			wantCalls(t, f, call{Tool: "crm_mon", Args: []string{"--one-shot", "--inactive", "--output-as=xml"}})
			if (st != nil) != tt.wantSt {
				t.Errorf("status = %v; want non-nil %v", st, tt.wantSt)
			}
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("err = %v; want it to contain %q", err, tt.wantErr)
			}
			if got := ExitCode(err); got != tt.wantCode {
				t.Errorf("ExitCode = %d; want %d", got, tt.wantCode)
			}
		})
	}
}
