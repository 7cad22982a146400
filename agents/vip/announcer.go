package vip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/ocf"
)

// The announcer is the helper process that sends the announcements after
// the first, so that start returns without waiting arp_count ×
// arp_interval. Start runs it with ocf.StartHelper: it inherits the packet
// socket start opened (in the resource's network namespace) as its first
// extra file and gets the frames start built in its spec; it needs no
// privilege, namespace or parsing of its own. Before it reports ready it
// writes its procid.ID to its pid file, so that the file exists whenever
// an announcer runs, even if the start that ran it was killed right after.
// Stop, and a new start, end it through that file.
const announcerHelper = "announce"

// announceWait bounds how long stop waits for a killed announcer to be
// gone.
const announceWait = time.Second

// announcerSpec is what start hands the announcer.
type announcerSpec struct {
	PidFile  string        `json:"pid_file"`
	Count    int           `json:"count"`    // rounds left to send
	Interval time.Duration `json:"interval"` // between rounds
	Frames   [][]byte      `json:"frames"`   // one round
}

// maxInstance bounds OCF_RESOURCE_INSTANCE in a file name, so that the
// longest name it makes fits in NAME_MAX: the temporary file the
// announcer's pid file is written through (durable.WriteFile),
// ".vnfha-vip-<instance>.announcer.tmp-<up to 10 digits>". The address
// record's, ".vnfha-vip-<instance>.addr.tmp-<digits>", is shorter.
const maxInstance = ocf.MaxNameLen - len(".vnfha-vip-.announcer.tmp-4294967295")

// checkInstance checks that OCF_RESOURCE_INSTANCE can name the
// announcer's pid file in HA_RSCTMP (principle 6): Pacemaker's ids are XML
// ids, and a clone's instance is "id:N", but the agent can be run by hand
// with anything. An empty one is refused only where a pid file is needed
// (required: start, and stop, which then has no announcer to end); the
// parameter checks let it pass, since "crm_resource --validate" and other
// callers of validate-all may not set it.
func checkInstance(s string, required bool) error {
	if s == "" && !required {
		return nil
	}
	if s == "" {
		return ocf.NotConfigured("OCF_RESOURCE_INSTANCE is not set; it names the announcer's pid file and the address record")
	}
	if err := ocf.CheckName(s); err != nil {
		return ocf.NotConfigured("OCF_RESOURCE_INSTANCE %s %v: it names the agent's files", ocf.Quote(s), err)
	}
	if len(s) > maxInstance {
		return ocf.NotConfigured("OCF_RESOURCE_INSTANCE %s is longer than %d bytes", ocf.Quote(s), maxInstance)
	}
	return nil
}

// pidFile is the announcer's pid file. The instance keys it: it is unique
// on a node (a clone's instances are "id:0", "id:1"...), so two resources
// with the same address in different network namespaces have one each.
// The namespace is not in the name on purpose: stop must find the
// announcer even when the namespace has gone or the parameter changed.
func pidFile(rscTmp, instance string) string {
	return filepath.Join(rscTmp, "vnfha-vip-"+instance+".announcer")
}

// legacyPidFile is where announcers before issue 9 kept their pid, keyed
// by the address only. Stop still ends such an announcer, so that an
// upgrade of the agent while an announcer runs leaves none behind.
func legacyPidFile(rscTmp string, ip netip.Addr) string {
	return filepath.Join(rscTmp, "vnfha-vip-"+ip.String()+".announcer")
}

// spawnAnnouncer runs the announcer for the announcements after the first:
// count rounds of frames, every interval. It returns once the announcer
// has written its pid file and said it is ready, or, if ctx ends first or
// it fails, once it is gone.
func spawnAnnouncer(ctx context.Context, rscTmp, instance string, sock *os.File, frames [][]byte, count int, interval time.Duration) error {
	if err := os.MkdirAll(rscTmp, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", rscTmp, err)
	}
	path := pidFile(rscTmp, instance)
	_, err := ocf.StartHelper(ctx, ocf.HelperStart{
		Agent: name, Name: announcerHelper,
		// The pid file on the command line says in ps whose announcer
		// this is, and stop checks it before it signals.
		Args:       []string{"--pidfile", path},
		Spec:       announcerSpec{PidFile: path, Count: count, Interval: interval, Frames: frames},
		ExtraFiles: []*os.File{sock},
	})
	if err != nil {
		// A helper killed after it wrote its pid file leaves the file.
		os.Remove(path)
		return fmt.Errorf("start announcer: %w", err)
	}
	return nil
}

// stopAnnouncer ends the announcer of instance, if one runs, and removes
// its pid file. The file's procid.ID is signalled only while it names a
// live process whose command line is that announcer's: a pid is reused
// once its process has gone.
func stopAnnouncer(ctx context.Context, rscTmp, instance string) error {
	path := pidFile(rscTmp, instance)
	b, err := os.ReadFile(path)
	if noFile(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read announcer pid file: %w", err)
	}
	var id procid.ID
	if json.Unmarshal(b, &id) == nil && isAnnouncer(id, "--pidfile", path) {
		if err := killAnnouncer(ctx, id); err != nil {
			return err
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove announcer pid file: %w", err)
	}
	return nil
}

// stopLegacyAnnouncer ends an announcer started before issue 9 for ip,
// found through legacyPidFile (its pid as text) and its command line
// ("--ip IP"). Such a file was shared by every resource with that address,
// so this may end another resource's last announcements early: that costs
// at most a few gratuitous ARPs, while an announcer left running would pull
// the address's traffic back to a node that no longer holds it.
func stopLegacyAnnouncer(ctx context.Context, rscTmp string, ip netip.Addr) error {
	path := legacyPidFile(rscTmp, ip)
	b, err := os.ReadFile(path)
	if noFile(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read announcer pid file: %w", err)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil {
		if id, err := procid.Of(pid); err == nil && isAnnouncer(id, "--ip", ip.String()) {
			if err := killAnnouncer(ctx, id); err != nil {
				return err
			}
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove announcer pid file: %w", err)
	}
	return nil
}

// noFile reports whether err says there is no such file: missing, or a
// path through a file that is no directory (an HA_RSCTMP that cannot hold
// a pid file holds none).
func noFile(err error) bool {
	return errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR)
}

// isAnnouncer reports whether id is a live vip announcer with flag value
// among its arguments.
func isAnnouncer(id procid.ID, flag, value string) bool {
	args, err := id.Cmdline()
	if err != nil || len(args) < 4 || args[1] != ocf.HelperArg || args[2] != name || args[3] != announcerHelper {
		return false
	}
	i := slices.Index(args[4:], flag)
	return i >= 0 && 4+i+1 < len(args) && args[4+i+1] == value
}

// killAnnouncer kills an announcer and waits until it is gone, at most
// announceWait and not past ctx's deadline: stop must not return while it
// could still send one more frame for an address that is about to move.
// SIGKILL is enough: it holds nothing but a socket.
func killAnnouncer(ctx context.Context, id procid.ID) error {
	if err := id.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, procid.ErrGone) {
		return fmt.Errorf("stop announcer %d: %w", id.PID, err)
	}
	wait := announceWait
	if d, ok := ctx.Deadline(); ok {
		wait = min(wait, time.Until(d))
	}
	if !id.WaitExit(wait) {
		return fmt.Errorf("announcer %d survived SIGKILL for %s", id.PID, wait.Round(time.Millisecond))
	}
	return nil
}

// runAnnouncer is the announcer's main function.
func runAnnouncer(args []string) int {
	conn, err := ocf.OpenHelper()
	if err != nil {
		fmt.Fprintln(os.Stderr, "vip announcer:", err)
		return 2
	}
	var s announcerSpec
	if err := conn.ReadSpec(&s); err != nil {
		conn.Fail("vip announcer: %v", err)
		return 2
	}
	if s.Count < 1 || s.Interval <= 0 || len(s.Frames) == 0 || s.PidFile == "" {
		conn.Fail("vip announcer: spec needs count, interval, frames and a pid file")
		return 2
	}
	sock, err := conn.File(0, "packet socket")
	if err != nil {
		conn.Fail("vip announcer: %v", err)
		return 2
	}
	self, err := procid.Self()
	if err != nil {
		conn.Fail("vip announcer: %v", err)
		return 1
	}
	b, _ := json.Marshal(self)
	if err := durable.WriteFile(s.PidFile, b, 0o644); err != nil {
		conn.Fail("vip announcer: %v", err)
		return 1
	}
	defer func() {
		// Leave no stale pid file, but never remove a newer announcer's.
		if b, err := os.ReadFile(s.PidFile); err == nil {
			var id procid.ID
			if json.Unmarshal(b, &id) == nil && id == self {
				os.Remove(s.PidFile)
			}
		}
	}()
	if err := conn.Ready(); err != nil {
		// The start that ran us has gone: it did not see us ready and
		// reported a failure, so we must not announce.
		return 1
	}
	fd := int(sock.Fd())
	for i := 0; i < s.Count; i++ {
		time.Sleep(s.Interval)
		for _, f := range s.Frames {
			if _, err := unix.Write(fd, f); err != nil {
				// The link went away; the resource's monitor will say so.
				return 1
			}
		}
	}
	return 0
}
