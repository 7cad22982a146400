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

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/internal/durable"
	"github.com/vnfha/vnfha/ocf"
)

// record is what start writes before it adds the address: which address,
// with which prefix length, on which link of which network namespace. It is
// how vip tells an address it added from one that was there already (the
// node's own address, one another tool manages): monitor reports only a
// recorded address as running, and stop removes only a recorded address,
// from the recorded link of the recorded namespace, whatever
// network_namespace says when stop runs. Nothing the kernel reports through
// the netlink library used here says who added an address (IFA_F_* flags
// are the kernel's, the label is IPv4 only and user-settable), so the
// record is a file. (The kernel's IFA_CACHEINFO creation stamp would tell a
// re-added address from the one start added, but vishvananda/netlink drops
// it; see mine.)
//
// It lives in HA_RSCTMP, a tmpfs under /run: a reboot empties it and also
// takes the address away, and a restart of Pacemaker keeps both.
type record struct {
	IP   netip.Addr `json:"ip"`
	Bits int        `json:"bits"`
	// Link is the interface's index, which identifies it within the
	// namespace: the kernel does not reuse an index while its link
	// exists and hands out new ones in increasing order, and a rename
	// keeps it.
	Link int `json:"link"`
	// LinkNm is the interface's name at start, for messages only: a
	// rename does not make the address another's.
	LinkNm  string `json:"link_name"`
	NetnsID nsID   `json:"netns"`
	// NetnsPath is the namespace's file as start opened it (a
	// name under /run/netns resolved to its path, or the absolute
	// path given); "" for the agent's own namespace, and in records
	// written before it was recorded. Stop and a later start open it,
	// and NetnsID tells whether it is still the same namespace.
	NetnsPath string `json:"netns_path,omitempty"`
	// Announcer says that start left an announcer that stays until stop
	// (config.announcer): monitor reports it missing. Records of the
	// agent before the watch lack it; their announcer ended after its
	// burst.
	Announcer bool `json:"announcer,omitempty"`
}

// nsID is a network namespace's identity: the device and inode of its nsfs
// file, the same however the namespace is named.
type nsID struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// maxRecord bounds what is read of a record file: a real one is about 150
// bytes, plus the namespace's path (at most pathMax).
const maxRecord = 1024 + pathMax

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
	if r.NetnsPath != "" {
		// Only what start records: an absolute path that
		// network_namespace could have given.
		if ref, err := parseNetns(r.NetnsPath); err != nil || ref.named {
			return nil, errors.New("address record holds no valid network namespace path")
		}
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
	return idOf(h.ns)
}

// idOf is the identity of the namespace ns, or of the agent's own when ns
// is not open.
func idOf(ns netns.NsHandle) (nsID, error) {
	var st unix.Stat_t
	var err error
	if ns.IsOpen() {
		err = unix.Fstat(int(ns), &st)
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

// mine reports whether a is the address r records: same address and prefix
// length, same namespace, same link by index. The link's name is not
// compared: a renamed link is the same link (the caller logs the rename).
// An address removed by hand and added again with the same prefix on the
// same link still passes: the kernel's IFA_CACHEINFO creation stamp would
// tell them apart, but vishvananda/netlink does not return it.
func (r *record) mine(id nsID, a held) bool {
	if r == nil || r.NetnsID != id || a.addr.IPNet == nil {
		return false
	}
	got, ok := netip.AddrFromSlice(a.addr.IP)
	return ok && got.Unmap() == r.IP && a.bits() == r.Bits && a.link.Attrs().Index == r.Link
}

// renamed reports whether a, one of r's addresses, is on a link whose name
// changed since start, for the logs.
func (r *record) renamed(a held) bool {
	return a.linkName() != r.LinkNm
}

// openRecorded opens the network namespace r was recorded in, whatever
// network_namespace names now (param, which only a record written before
// NetnsPath existed falls back on). It returns a nil host and why when that
// namespace no longer exists: its file is missing or no network namespace
// any more, or is another namespace now (deleted and re-created under the
// same name, a reused pid); the address went with it. An error is a
// failure to look, not a missing namespace.
func openRecorded(r *record, param string) (*host, string, error) {
	ref := nsRef{value: r.NetnsPath, path: r.NetnsPath}
	if r.NetnsPath == "" {
		// The agent's own namespace, or an old record: the namespace
		// network_namespace names, as before.
		if own, err := idOf(netns.None()); err != nil || own != r.NetnsID {
			p, err := parseNetns(param)
			if err != nil {
				return nil, err.Error(), nil
			}
			ref = p
		}
	}
	h, err := openHost(ref)
	if err != nil {
		if code, _ := ocf.Result(err); code == ocf.ErrArgs || code == ocf.ErrNotConfigured {
			return nil, err.Error(), nil
		}
		return nil, "", err
	}
	id, err := h.id()
	if err != nil {
		h.Close()
		return nil, "", ocf.Generic("%w", err)
	}
	if id != r.NetnsID {
		h.Close()
		return nil, fmt.Sprintf("the network namespace %s was added in is gone", r.IP), nil
	}
	return h, "", nil
}
