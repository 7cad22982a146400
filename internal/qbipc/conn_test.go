package qbipc

import (
	"context"
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/vnfha/vnfha/internal/nstest"
)

// connectResponse builds a server's handshake answer as libqb lays it out
// (handle_new_connection in lib/ipc_setup.c).
func connectResponse(id, errno int32, connType, maxMsg uint32, rings ...string) []byte {
	b := make([]byte, connectResponseSize)
	binary.LittleEndian.PutUint32(b[0:], uint32(id))
	binary.LittleEndian.PutUint32(b[8:], connectResponseSize)
	binary.LittleEndian.PutUint32(b[16:], uint32(errno))
	binary.LittleEndian.PutUint32(b[24:], connType)
	binary.LittleEndian.PutUint32(b[28:], maxMsg)
	for i, r := range rings {
		copy(b[40+i*pathMax:], r)
	}
	return b
}

func TestParseConnectResponse(t *testing.T) {
	// Ring names in the form libqb 2.0 gives them: a directory
	// qb-<server pid>-<client pid>-<fd>-<random> under /dev/shm, as the
	// lab nodes show, and "qb-<ring>-<service>" files in it.
	dir := "/dev/shm/qb-22-1187-14-AbCdEf/qb"
	good := []string{dir + "-request-crmd", dir + "-response-crmd", dir + "-event-crmd"}
	tests := []struct {
		name    string
		resp    []byte
		wantErr string
	}{
		{"accepted", connectResponse(msgAuthenticate, 0, typeSHM, 131072, good...), ""},
		{"refused", connectResponse(msgAuthenticate, -13, typeSHM, 0), "permission denied"},
		{"socket transport", connectResponse(msgAuthenticate, 0, 0, 131072, good...), "connection type 0"},
		{"other message", connectResponse(0, 0, typeSHM, 131072, good...), "message id 0"},
		{"relative ring name", connectResponse(msgAuthenticate, 0, typeSHM, 131072, "qb-request-crmd", good[1], good[2]), "not an absolute path"},
		{"short", connectResponse(msgAuthenticate, 0, typeSHM, 131072, good...)[:100], "want"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size, rings, err := parseConnectResponse(tt.resp)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || size != 131072 || rings != [3]string(good) {
				t.Fatalf("= %d, %q, %v", size, rings, err)
			}
		})
	}
}

// FuzzParseConnectResponse fuzzes the fields of the answer rather than its
// 12 KiB of bytes, which the fuzzer's mutator handles poorly; cut shortens
// the answer when it is below its size.
func FuzzParseConnectResponse(f *testing.F) {
	f.Add(int32(msgAuthenticate), int32(0), uint32(typeSHM), uint32(131072), "/dev/shm/a", "/dev/shm/b", "/dev/shm/c", uint16(0))
	f.Add(int32(msgAuthenticate), int32(-11), uint32(typeSHM), uint32(0), "", "", "", uint16(0))
	f.Fuzz(func(t *testing.T, id, errno int32, typ, maxMsg uint32, a, b, c string, cut uint16) {
		rings := []string{a, b, c}
		for i := range rings {
			if len(rings[i]) >= pathMax {
				rings[i] = rings[i][:pathMax-1]
			}
		}
		resp := connectResponse(id, errno, typ, maxMsg, rings...)
		if int(cut) < len(resp) && cut > 0 {
			resp = resp[:cut]
		}
		size, got, err := parseConnectResponse(resp)
		if err != nil {
			return
		}
		if size != maxMsg || id != msgAuthenticate || errno != 0 || typ != typeSHM {
			t.Fatalf("accepted id %d, errno %d, type %d, size %d (parsed %d)", id, errno, typ, maxMsg, size)
		}
		for i, r := range got {
			if !strings.HasPrefix(r, "/") || strings.IndexByte(r, 0) >= 0 || !strings.HasPrefix(rings[i], r) {
				t.Fatalf("ring %d: accepted %q from %q", i, r, rings[i])
			}
		}
	})
}

// TestFilesystemSockets: where libqb is told to use filesystem sockets,
// Dial says so instead of failing to connect to an abstract name no
// server listens on ("connection refused"), so that the monitor's warning
// and the supervisor's fallback name the cause. The file is libqb's own
// (/etc/libqb/force-filesystem-sockets), stood in for by a temporary one.
func TestFilesystemSockets(t *testing.T) {
	old := forceFilesystemSockets
	t.Cleanup(func() { forceFilesystemSockets = old })
	forceFilesystemSockets = filepath.Join(t.TempDir(), "force-filesystem-sockets")
	if err := os.WriteFile(forceFilesystemSockets, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	nstest.RequireRoot(t)
	ns := nstest.NewPair(t).A
	err := ns.Do(func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c, err := Dial(ctx, "attrd", 128<<10)
		if err == nil {
			c.Close()
		}
		return err
	})
	if !errors.Is(err, ErrFilesystemSockets) || !strings.Contains(err.Error(), forceFilesystemSockets) {
		t.Errorf("Dial = %v, want ErrFilesystemSockets naming %s", err, forceFilesystemSockets)
	}
}
