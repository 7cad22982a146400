package qbipc

import (
	"errors"
	"fmt"
	"os/user"
	"strconv"

	"golang.org/x/sys/unix"
)

// DaemonUser is the user Pacemaker's daemons run as (CRM_DAEMON_USER, the
// same in every distribution's build). A server that runs as this user,
// as root, or with this user's group, is taken for one of them.
const DaemonUser = "hacluster"

// ErrNotAuthentic is wrapped by Dial's error when the process that serves
// the socket is not one of Pacemaker's daemons by its credentials.
var ErrNotAuthentic = errors.New("the server is not Pacemaker's")

// checkServer refuses a server that runs as neither root nor DaemonUser
// (its user or its primary group), as Pacemaker's own client does
// (crm_ipc_connect, pcmk__crm_ipc_is_authentic_process). It must: libqb's
// sockets are abstract, so any local user may bind a daemon's name while
// the daemon is not running (Pacemaker restarting, or stopped while a
// supervisor still reports), and the handshake's answer names the files
// the client then maps and writes into as root. Pacemaker checks once
// libqb has connected and opened those files; this checks first, on the
// credentials the kernel recorded when the server called listen
// (SO_PEERCRED), so nothing of a forged server's is opened.
func checkServer(fd int) error {
	cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
	if err != nil {
		return fmt.Errorf("the server's credentials: %w", err)
	}
	if cred.Uid == 0 {
		return nil
	}
	uid, gid, err := daemonIDs()
	if err != nil {
		return fmt.Errorf("%w: its process %d runs as uid %d, and %v", ErrNotAuthentic, cred.Pid, cred.Uid, err)
	}
	if cred.Uid == uid || cred.Gid == gid {
		return nil
	}
	return fmt.Errorf("%w: its process %d runs as uid %d, gid %d; want root or %s (uid %d, gid %d)",
		ErrNotAuthentic, cred.Pid, cred.Uid, cred.Gid, DaemonUser, uid, gid)
}

// daemonIDs are DaemonUser's uid and primary gid.
func daemonIDs() (uid, gid uint32, err error) {
	u, err := user.Lookup(DaemonUser)
	if err != nil {
		return 0, 0, fmt.Errorf("user %s: %w", DaemonUser, err)
	}
	id, err1 := strconv.ParseUint(u.Uid, 10, 32)
	g, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("user %s has uid %q, gid %q", DaemonUser, u.Uid, u.Gid)
	}
	return uint32(id), uint32(g), nil
}
