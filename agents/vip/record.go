package vip

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/durable"
)

// record is what start writes before it adds the address: which address,
// on which link of which network namespace. It is how vip tells an address
// it added from one that was there already (the node's own address, one
// another tool manages): monitor reports only a recorded address as
// running, and stop removes only a recorded address, from the recorded
// link. The kernel keeps nothing on an address that could say who added
// it (IFA_F_* flags are the kernel's, the label is IPv4 only and
// user-settable), so the record is a file.
//
// It lives in HA_RSCTMP, a tmpfs under /run: a reboot empties it and also
// takes the address away, and a restart of Pacemaker keeps both.
type record struct {
	IP      netip.Addr `json:"ip"`
	Bits    int        `json:"bits"`
	Link    int        `json:"link"`      // interface index
	LinkNm  string     `json:"link_name"` // the index may be reused by another link
	NetnsID nsID       `json:"netns"`
}

// nsID is a network namespace's identity: the device and inode of its nsfs
// file, the same however the namespace is named.
type nsID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// maxRecord bounds what is read of a record file: a real one is about 120
// bytes.
const maxRecord = 1024

// recordSuffix ends the record's file name.
const recordSuffix = ".addr"

// recordFile is the record's path, keyed by the instance like the
// announcer's pid file (see pidFile).
func recordFile(rscTmp, instance string) string {
	return filepath.Join(rscTmp, "vnfha-vip-"+instance+recordSuffix)
}

// readRecord returns the instance's record, or nil when there is none. A
// file there that is no record (not a regular file, too long, not the
// format) is reported as an error that quotes none of its contents; the
// callers take it as no record: it says nothing about what was added. It
// never blocks on a fifo and reads at most maxRecord bytes.
func readRecord(rscTmp, instance string) (*record, error) {
	if instance == "" {
		// Run by hand without one: start refuses that, so nothing was
		// recorded.
		return nil, nil
	}
	f, err := os.OpenFile(recordFile(rscTmp, instance), os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOFOLLOW|syscall.O_NOCTTY, 0)
	if noFile(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read address record: %w", err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil, errors.New("address record is not a regular file")
	}
	b, err := io.ReadAll(io.LimitReader(f, maxRecord+1))
	if err != nil {
		return nil, fmt.Errorf("read address record: %w", err)
	}
	return parseRecord(b)
}

// parseRecord decodes a record file's contents; anything that is not a
// whole record is an error that quotes none of it.
func parseRecord(b []byte) (*record, error) {
	var r record
	if len(b) > maxRecord || json.Unmarshal(b, &r) != nil || !r.IP.IsValid() || r.Link <= 0 || r.LinkNm == "" {
		return nil, errors.New("address record holds no vip record")
	}
	r.IP = r.IP.Unmap()
	return &r, nil
}

// writeRecord replaces the instance's record, atomically and durably: a
// monitor running meanwhile sees the old record or the new one.
func writeRecord(rscTmp, instance string, r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encode address record: %w", err)
	}
	if err := os.MkdirAll(rscTmp, 0o755); err != nil {
		return fmt.Errorf("record the address: %w", err)
	}
	if err := durable.WriteFile(recordFile(rscTmp, instance), b, 0o644); err != nil {
		return fmt.Errorf("record the address: %w", err)
	}
	return nil
}

// removeRecord removes the instance's record; none there is no error.
func removeRecord(rscTmp, instance string) error {
	if err := os.Remove(recordFile(rscTmp, instance)); err != nil && !noFile(err) {
		return fmt.Errorf("remove address record: %w", err)
	}
	return nil
}

// id is the identity of the host's network namespace.
func (h *host) id() (nsID, error) {
	var st unix.Stat_t
	var err error
	if h.ns.IsOpen() {
		err = unix.Fstat(int(h.ns), &st)
	} else {
		// The agent's own: the thread's, which is the process's outside
		// netnsrun.
		err = unix.Stat("/proc/thread-self/ns/net", &st)
	}
	if err != nil {
		return nsID{}, fmt.Errorf("identify the network namespace: %w", err)
	}
	return nsID{Dev: st.Dev, Ino: st.Ino}, nil
}

// mine reports whether a is the address r records: same address, same
// namespace, same link by index and by name.
func (r *record) mine(id nsID, a held) bool {
	if r == nil || r.NetnsID != id {
		return false
	}
	got, ok := netip.AddrFromSlice(a.addr.IP)
	return ok && got.Unmap() == r.IP && a.link.Attrs().Index == r.Link && a.linkName() == r.LinkNm
}
