package vip

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/internal/failreport"
	"github.com/vnfha/vnfha/internal/procid"
	"github.com/vnfha/vnfha/ocf"
)

// The announcer is the helper process that sends the announcements after
// the first, so that start returns without waiting arp_count ×
// arp_interval, and that stays while the address is held: it watches the
// address and its link (watch.go), reports a loss (fast_fail), announces
// again when the link comes back and every arp_refresh. Start runs it with
// ocf.StartHelper: it inherits the packet socket start opened (in the
// resource's network namespace) as its first extra file and, with
// network_namespace, that namespace as its second; it gets the frames start
// built and the recorded address in its spec, and parses no parameter.
// Before it reports ready it writes its procid.ID to its pid file, so that
// the file exists whenever an announcer runs, even if the start that ran it
// was killed right after. Stop, and a new start, end it through that file.
const announcerHelper = "announce"

// announceWait bounds how long stop waits for a killed announcer to be
// gone.
const announceWait = time.Second

// announcerSpec is what start hands the announcer.
type announcerSpec struct {
	PidFile  string        `json:"pid_file"`
	Count    int           `json:"count"`    // rounds of start's burst left to send
	Interval time.Duration `json:"interval"` // between rounds
	Frames   [][]byte      `json:"frames"`   // one round
	// Burst is the rounds sent when the link comes back (arp_count).
	Burst int `json:"burst"`
	// Refresh is arp_refresh: one round every Refresh; 0 for none.
	Refresh time.Duration `json:"refresh,omitempty"`
	// The recorded address: IP/Bits on the link with index Link.
	IP   netip.Addr `json:"ip"`
	Bits int        `json:"bits"`
	Link int        `json:"link"`
	// Netns says that the second extra file is the resource's network
	// namespace; without it the helper's own is. NetnsPath is the file
	// start opened it by, which the helper follows (nsWatch), and
	// NetnsName network_namespace as given, for its messages.
	Netns     bool   `json:"netns,omitempty"`
	NetnsPath string `json:"netns_path,omitempty"`
	NetnsName string `json:"netns_name,omitempty"`
	CheckLink bool   `json:"check_link,omitempty"`
	// Nic is the nic parameter, "" when not set: the link must keep
	// that name, as monitor checks.
	Nic string `json:"nic,omitempty"`
	// Armed and Report, with fast_fail: the armed file, and how to tell
	// Pacemaker of a loss.
	Armed  string             `json:"armed,omitempty"`
	Report *failreport.Report `json:"report,omitempty"`
	// Instance tags the helper's lines in the node's log, Log.
	Instance string        `json:"instance"`
	Log      ocf.LogTarget `json:"log"`
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

// spawnAnnouncer runs the announcer with spec s and files (the packet
// socket, then the namespace if s.Netns). It returns once the announcer
// has written its pid file, is watching, and said it is ready, or, if ctx
// ends first or it fails, once it is gone.
func spawnAnnouncer(ctx context.Context, rscTmp, instance string, s announcerSpec, files []*os.File) error {
	if err := os.MkdirAll(rscTmp, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", rscTmp, err)
	}
	path := pidFile(rscTmp, instance)
	s.PidFile = path
	_, err := ocf.StartHelper(ctx, ocf.HelperStart{
		Agent: name, Name: announcerHelper,
		// The pid file on the command line says in ps whose announcer
		// this is, and stop checks it before it signals.
		Args:       []string{"--pidfile", path},
		Spec:       s,
		ExtraFiles: files,
		// One processor is plenty for a process that waits, and the
		// runtime then starts fewer threads: 4 instead of 5, and about
		// 1.1 MiB of its own memory instead of 1.3 (the rest of its
		// RSS, the binary, is shared with every other announcer).
		Env: []string{"GOMAXPROCS=1"},
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
	b, err := readSmall(path)
	if noFile(err) {
		return nil
	}
	if errors.Is(err, errNotPidFile) {
		// Not written by an announcer (durable.WriteFile renames a
		// regular file into place), so it names none; stop must not
		// fail for it. An empty directory goes too; anything else
		// stays for an operator, and a start then fails to write its
		// pid file there, saying why.
		_ = os.Remove(path)
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
	b, err := readSmall(path)
	if noFile(err) {
		return nil
	}
	if errors.Is(err, errNotPidFile) {
		_ = os.Remove(path) // as in stopAnnouncer
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

// maxPidFile bounds what is read of a pid file: a procid.ID in JSON is
// under 64 bytes.
const maxPidFile = 256

// errNotPidFile marks a pid file path that holds no regular file: a
// symbolic link, a fifo, a directory.
var errNotPidFile = errors.New("not a regular file")

// readSmall reads a file of the agent's own, at most maxPidFile bytes,
// without following a symbolic link or blocking on a fifo: monitor and stop
// read the announcer's pid file, and neither may hang on what sits there
// (the agent before this one blocked on a fifo there).
func readSmall(path string) ([]byte, error) {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_NOCTTY, 0)
	if errors.Is(err, syscall.ELOOP) {
		return nil, fmt.Errorf("%s: a symbolic link: %w", path, errNotPidFile)
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s: %w", path, errNotPidFile)
	}
	return io.ReadAll(io.LimitReader(f, maxPidFile))
}

// announcerAlive reports whether the announcer of instance runs: its pid
// file names a live process. Two small reads, no fork: monitor calls it.
func announcerAlive(rscTmp, instance string) bool {
	b, err := readSmall(pidFile(rscTmp, instance))
	if err != nil {
		return false
	}
	var id procid.ID
	return json.Unmarshal(b, &id) == nil && id.Alive()
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

// killAnnouncer kills an announcer and what it runs, and waits until it
// is gone, at most announceWait and not past ctx's deadline: stop must not
// return while it could still send one more frame for an address that is
// about to move. SIGKILL is enough: it holds nothing but sockets.
//
// What it runs is the report of a loss through crm_resource, in its
// process group (StartHelper makes it a session and group leader). A
// report still on its way when stop, or a start over the address, ends
// the announcer must end with it: landing after them, it would record a
// failure against a resource that stopped, or that has just started
// again, and Pacemaker would recover it for nothing. The group is
// signalled while its leader is known to be this announcer; a group id
// stays taken while any member lives, so it names no other group.
func killAnnouncer(ctx context.Context, id procid.ID) error {
	if st, err := procid.ReadStat(id.PID); err == nil && st.PGID == id.PID && id.Alive() {
		if err := syscall.Kill(-id.PID, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop announcer %d and its process group: %w", id.PID, err)
		}
	}
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
