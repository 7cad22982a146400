package vip

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/ocf"
)

// The announcer is the helper process that sends the announcements after
// the first, so that start returns without waiting arp_count ×
// arp_interval. It inherits the packet socket start opened (in the
// resource's network namespace) as file descriptor 3 and writes the frames
// start built to it; it needs no privilege, namespace or parsing of its
// own. Stop, and a new start, end it through its pid file.
const announcerHelper = "announce"

// announcerFD is where the announcer finds the socket: the first of
// exec.Cmd.ExtraFiles.
const announcerFD = 3

func pidFile(rscTmp string, ip netip.Addr) string {
	// The address, not the resource name, keys the file: it is what two
	// announcers must never share, and it survives a rename of the resource.
	return filepath.Join(rscTmp, "vnfha-vip-"+ip.String()+".announcer")
}

// spawnAnnouncer starts the announcer for the announcements after the
// first: count rounds of frames, every interval.
func spawnAnnouncer(rscTmp string, ip netip.Addr, sock *os.File, frames [][]byte, count int, interval time.Duration) error {
	if err := os.MkdirAll(rscTmp, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", rscTmp, err)
	}
	args := []string{"--ip", ip.String(), "--count", strconv.Itoa(count), "--interval", interval.String(), "--pidfile", pidFile(rscTmp, ip)}
	for _, f := range frames {
		args = append(args, "--frame", hex.EncodeToString(f))
	}
	cmd := ocf.HelperCommand(name, announcerHelper, args...)
	cmd.ExtraFiles = []*os.File{sock}
	// A session of its own: Pacemaker's kill of a timed-out action's
	// process group must not take the announcer along, nor must the
	// announcer hold the agent's stdout open (stdio is /dev/null).
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start announcer: %w", err)
	}
	pid := cmd.Process.Pid
	// The announcer is not waited for: it outlives the agent and is
	// reaped by init.
	cmd.Process.Release()
	// Start returns once execve has closed the close-on-exec files, which
	// the kernel does before it records the new program's arguments:
	// for a moment /proc/PID/cmdline reads empty (seen in 14% of starts
	// here). Wait until it does not, so that the pid file never names an
	// announcer that isAnnouncer, and so stop, cannot recognise.
	for deadline := time.Now().Add(time.Second); !isAnnouncer(pid, ip); time.Sleep(100 * time.Microsecond) {
		if time.Now().After(deadline) {
			syscall.Kill(pid, syscall.SIGKILL)
			return fmt.Errorf("announcer %d did not show its command line within 1s", pid)
		}
	}
	if err := os.WriteFile(pidFile(rscTmp, ip), []byte(strconv.Itoa(pid)+"\n"), 0o644); err != nil {
		syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("write announcer pid file: %w", err)
	}
	return nil
}

// stopAnnouncer ends the announcer of ip, if one runs. It checks the pid
// file's process is really that announcer before it signals, because a pid
// is reused once its process has gone.
func stopAnnouncer(rscTmp string, ip netip.Addr) error {
	path := pidFile(rscTmp, ip)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read announcer pid file: %w", err)
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && isAnnouncer(pid, ip) {
		// SIGKILL is enough: the announcer holds nothing but a socket.
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			return fmt.Errorf("stop announcer %d: %w", pid, err)
		}
		// The signal is delivered asynchronously; stop must not return
		// while the announcer could still send one more frame for an
		// address that is about to move. A dead process (even a zombie)
		// has an empty cmdline.
		deadline := time.Now().Add(time.Second)
		for isAnnouncer(pid, ip) {
			if time.Now().After(deadline) {
				return fmt.Errorf("announcer %d survived SIGKILL for 1s", pid)
			}
			time.Sleep(time.Millisecond)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove announcer pid file: %w", err)
	}
	return nil
}

func isAnnouncer(pid int, ip netip.Addr) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte("\x00"+ocf.HelperArg+"\x00"+name+"\x00"+announcerHelper+"\x00")) &&
		bytes.Contains(cmdline, []byte("\x00--ip\x00"+ip.String()+"\x00"))
}

// runAnnouncer is the announcer's main function.
func runAnnouncer(args []string) int {
	a, err := parseAnnouncerArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "vip announcer:", err)
		return 2
	}
	defer func() {
		// Leave no stale pid file, but never remove a newer announcer's.
		if b, err := os.ReadFile(a.pidFile); err == nil && strings.TrimSpace(string(b)) == strconv.Itoa(os.Getpid()) {
			os.Remove(a.pidFile)
		}
	}()
	for i := 0; i < a.count; i++ {
		time.Sleep(a.interval)
		for _, f := range a.frames {
			if _, err := unix.Write(announcerFD, f); err != nil {
				// The link went away; the resource's monitor will say so.
				return 1
			}
		}
	}
	return 0
}

type announcerArgs struct {
	count    int
	interval time.Duration
	pidFile  string
	frames   [][]byte
}

func parseAnnouncerArgs(args []string) (*announcerArgs, error) {
	a := &announcerArgs{}
	for i := 0; i+1 < len(args); i += 2 {
		v := args[i+1]
		var err error
		switch args[i] {
		case "--ip":
		case "--count":
			a.count, err = strconv.Atoi(v)
		case "--interval":
			a.interval, err = time.ParseDuration(v)
		case "--pidfile":
			a.pidFile = v
		case "--frame":
			var f []byte
			f, err = hex.DecodeString(v)
			a.frames = append(a.frames, f)
		default:
			return nil, fmt.Errorf("unknown argument %q", args[i])
		}
		if err != nil {
			return nil, fmt.Errorf("%s %q: %w", args[i], v, err)
		}
	}
	if len(args)%2 != 0 || a.count < 0 || a.interval <= 0 || a.pidFile == "" || len(a.frames) == 0 {
		return nil, fmt.Errorf("usage: --ip IP --count N --interval D --pidfile PATH --frame HEX...")
	}
	return a, nil
}
