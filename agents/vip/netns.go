package vip

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/vnfha/vnfha/ocf"
)

// netnsDir is where "ip netns" mounts named network namespaces.
const netnsDir = "/run/netns"

// The kernel's limits on a path and on one of its components (PATH_MAX
// less the NUL, NAME_MAX). A longer network_namespace cannot name a file on
// any node, so it is refused before anything is opened.
const (
	pathMax = 4095
	nameMax = 255
)

// nsRef is network_namespace, checked for syntax: what the parameter said
// and the path it names. The zero nsRef is the agent's own namespace.
type nsRef struct {
	value string // as configured, for messages
	path  string // what to open; "" for the agent's own namespace
	named bool   // value is a name under /run/netns, not an absolute path
}

// parseNetns checks network_namespace without looking at the node: a name
// under /run/netns (one path component: no '/', not "." or "..", so that a
// name never becomes a path outside that directory), or an absolute path
// taken as it is. The errors are ERR_CONFIGURED: they hold on every node.
func parseNetns(v string) (nsRef, error) {
	if v == "" {
		return nsRef{}, nil
	}
	if strings.ContainsFunc(v, isControl) {
		return nsRef{}, ocf.NotConfigured("network_namespace %s holds a control character", ocf.Quote(v))
	}
	if !strings.HasPrefix(v, "/") {
		if err := ocf.CheckName(v); err != nil {
			return nsRef{}, ocf.NotConfigured("network_namespace %s %v: a name under %s, or an absolute path", ocf.Quote(v), err, netnsDir)
		}
		return nsRef{value: v, path: filepath.Join(netnsDir, v), named: true}, nil
	}
	if len(v) > pathMax {
		return nsRef{}, ocf.NotConfigured("network_namespace %s is too long for a path (max %d bytes)", ocf.Quote(v), pathMax)
	}
	for _, c := range strings.Split(v, "/") {
		if len(c) > nameMax {
			return nsRef{}, ocf.NotConfigured("network_namespace %s has a path component over %d bytes", ocf.Quote(v), nameMax)
		}
	}
	return nsRef{value: v, path: v}, nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// open opens the namespace r names, after checking with the kernel that the
// file is a network namespace. The file itself is opened only once it is
// known to be a namespace: opening a device can act (a watchdog arms when
// opened), and opening a fifo blocks. So the path is first opened with
// O_PATH, which opens nothing, its file system must be nsfs, and only then
// is it reopened through /proc/self/fd for NS_GET_NSTYPE, which must say
// CLONE_NEWNET (a mount or PID namespace is nsfs too).
//
// A namespace this node lacks (a missing path, a name under /run/netns that
// is not a mounted network namespace here) is ERR_ARGS: another node may
// have it, and monitor reads ERR_ARGS as "nothing can run here".
func (r nsRef) open() (netns.NsHandle, error) {
	if r.path == "" {
		return netns.None(), nil
	}
	pfd, err := unix.Open(r.path, unix.O_PATH|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ENOTDIR) {
			return netns.None(), ocf.Errorf(ocf.ErrArgs, "network_namespace %s does not exist on this node", ocf.Quote(r.value))
		}
		// ELOOP, EACCES, ENAMETOOLONG through a symlink: this node's
		// files, which another node may not share.
		return netns.None(), ocf.Errorf(ocf.ErrArgs, "network_namespace %s cannot be opened on this node: %w", ocf.Quote(r.value), err)
	}
	defer unix.Close(pfd)
	var fs unix.Statfs_t
	if err := unix.Fstatfs(pfd, &fs); err != nil {
		return netns.None(), ocf.Generic("network_namespace %s: statfs: %w", ocf.Quote(r.value), err)
	}
	if fs.Type != unix.NSFS_MAGIC {
		var st unix.Stat_t
		kind, mountPoint := "a file", false
		if unix.Fstat(pfd, &st) == nil {
			kind = fileKind(st.Mode)
			// An empty regular file is what "ip netns add" and any
			// bind mount of a namespace mount onto: one left without
			// its mount (a failed add, a reboot of a persistent path)
			// is this node's state, however it is named.
			mountPoint = st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == 0
		}
		return netns.None(), r.notNetns(kind, mountPoint)
	}
	fd, err := unix.Open(fmt.Sprintf("/proc/self/fd/%d", pfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return netns.None(), ocf.Generic("open network_namespace %s: %w", ocf.Quote(r.value), err)
	}
	t, err := unix.IoctlRetInt(fd, unix.NS_GET_NSTYPE)
	if err != nil {
		unix.Close(fd)
		return netns.None(), ocf.Generic("network_namespace %s: NS_GET_NSTYPE: %w", ocf.Quote(r.value), err)
	}
	if t != unix.CLONE_NEWNET {
		unix.Close(fd)
		return netns.None(), r.notNetns(nsKind(t), false)
	}
	return netns.NsHandle(fd), nil
}

// notNetns is the error for a file that exists and is no network
// namespace. A name under /run/netns is this node's state (a file left
// behind without its mount, say), so it is node-local like a missing one;
// so is an absolute path to an empty regular file (mountPoint), the same
// unmounted file given as a path: one node's stale file must not stop the
// resource on every node. An absolute path that is, say, /etc,
// /etc/passwd or /proc/self/ns/mnt is wrong on every node.
func (r nsRef) notNetns(kind string, mountPoint bool) error {
	if r.named || mountPoint {
		return ocf.Errorf(ocf.ErrArgs, "network_namespace %s is not a network namespace on this node (%s, not mounted)", ocf.Quote(r.value), kind)
	}
	return ocf.NotConfigured("network_namespace %s is not a network namespace (it is %s)", ocf.Quote(r.value), kind)
}

func fileKind(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFDIR:
		return "a directory"
	case unix.S_IFREG:
		return "a regular file"
	case unix.S_IFCHR:
		return "a character device"
	case unix.S_IFBLK:
		return "a block device"
	case unix.S_IFIFO:
		return "a fifo"
	case unix.S_IFSOCK:
		return "a socket"
	}
	return "a file"
}

func nsKind(t int) string {
	switch t {
	case unix.CLONE_NEWNS:
		return "a mount namespace"
	case unix.CLONE_NEWPID:
		return "a PID namespace"
	case unix.CLONE_NEWUTS:
		return "a UTS namespace"
	case unix.CLONE_NEWIPC:
		return "an IPC namespace"
	case unix.CLONE_NEWUSER:
		return "a user namespace"
	case unix.CLONE_NEWCGROUP:
		return "a cgroup namespace"
	case unix.CLONE_NEWTIME:
		return "a time namespace"
	}
	return "another kind of namespace"
}
