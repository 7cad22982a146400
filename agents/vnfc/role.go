package vnfc

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/vnfha/vnfha/internal/attrd"
	"github.com/vnfha/vnfha/ocf"
)

// The Pacemaker tools the agent runs, by name (looked for in searchPath)
// or absolute path. Tests point them at recording stand-ins.
var (
	crmAttributeBin = "crm_attribute"
	crmResourceBin  = "crm_resource"
)

// Promotion scores, as ocf:pacemaker:Stateful sets them: every running
// instance can be promoted, the promoted one keeps its role.
const (
	scoreUnpromoted = 5
	scorePromoted   = 10
)

// setScore sets this instance's promotion score on this node, in a
// promotable clone only. An instance with no score is never promoted.
func setScore(ctx context.Context, req *ocf.Request, score int) error {
	if req.Env.Clone == nil || !req.Env.Clone.Promotable {
		return nil
	}
	return crmAttribute(ctx, req, "--update", fmt.Sprint(score))
}

// clearScore removes the score, so that a stopped instance is not chosen.
func clearScore(ctx context.Context, req *ocf.Request) error {
	if req.Env.Clone == nil || !req.Env.Clone.Promotable {
		return nil
	}
	return crmAttribute(ctx, req, "--delete")
}

// queryScore asks the node's attribute manager for an attribute; unit
// tests put a stand-in here.
var queryScore = attrd.Query

// How long monitor may spend on the promotion score: the query is one IPC
// connection and round trip (about 1.5 ms in the lab, and 1 ms of attrd's
// CPU), the restore one crm_attribute (some 27 ms). Either may hang while
// Pacemaker restarts, and neither may hold up the monitor's answer for
// long.
const (
	scoreQueryTimeout   = time.Second
	scoreRestoreTimeout = 5 * time.Second
)

// restoreScore is monitor's part in keeping a running instance of a
// promotable clone promotable: when the node's attribute manager holds no
// promotion score for it, it sets the one its role calls for (10 promoted,
// 5 unpromoted), as start, promote and demote do. Promotion scores are
// transient attributes: a restart of Pacemaker on the node erases them
// while the VNFC runs on, and an instance without a score is never
// promoted. Probes restore it too; they are what Pacemaker runs on the
// node once it is back.
//
// It costs one IPC query to the local pacemaker-attrd and no exec when the
// score is there, whatever its value: a score set by hand is left alone.
// It never fails the monitor: a query that fails (attrd restarting) or a
// restore that fails is logged, and the next monitor tries again.
//
// The executor runs one operation of a resource at a time, so no promote
// or demote changes the role meanwhile; the promoted marker is still read
// only once the score is known to be missing, the moment before it is set.
func restoreScore(ctx context.Context, req *ocf.Request, dir string) {
	if req.Env.Clone == nil || !req.Env.Clone.Promotable {
		return
	}
	// The node crm_attribute is given (crmAttribute): the one Pacemaker
	// runs the operation for, also on a Pacemaker Remote node.
	node := req.Env.OnNode
	if node == "" {
		node = attrd.Localhost
	}
	qctx, cancel := context.WithTimeout(ctx, scoreQueryTimeout)
	v, err := queryScore(qctx, node, scoreName(req.Env.Instance), "vnfha-vnfc")
	cancel()
	if err != nil {
		req.Log.Warnf("promotion score not checked, the next monitor will: %v", err)
		return
	}
	if v.Set {
		return
	}
	score := scoreUnpromoted
	if exists(filepath.Join(dir, promotedFile)) {
		score = scorePromoted
	}
	rctx, cancel := context.WithTimeout(ctx, scoreRestoreTimeout)
	defer cancel()
	if err := setScore(rctx, req, score); err != nil {
		req.Log.Warnf("promotion score missing and not restored, the next monitor will try again: %v", err)
		return
	}
	by := "monitor"
	if req.Probe {
		by = "probe"
	}
	req.Log.Infof("promotion score %d restored by a %s: the node's attribute manager had none (Pacemaker restarted here, or it was deleted)", score, by)
}

// scoreName is the node attribute that holds an instance's promotion score
// (pcmk_promotion_score_name: crm_attribute --promotion's name for it).
func scoreName(instance string) string { return "master-" + instance }

// crmAttribute runs crm_attribute --promotion for this instance. It is the
// one external program the agent runs on start, stop, promote and demote,
// and on a monitor that restores a missing score (restoreScore);
// the agent binary links no Pacemaker client code.
func crmAttribute(ctx context.Context, req *ocf.Request, args ...string) error {
	bin, err := lookPath(crmAttributeBin)
	if err != nil {
		return ocf.NotInstalled("set promotion score: %v", err)
	}
	argv := []string{"--promotion", req.Env.Instance, "--lifetime", "reboot"}
	if req.Env.OnNode != "" {
		argv = append(argv, "--node", req.Env.OnNode)
	}
	argv = append(argv, args...)
	out, err := exec.CommandContext(ctx, bin, argv...).CombinedOutput()
	if err != nil {
		// The cause first: Pacemaker keeps 128 bytes of a reason.
		return ocf.Generic("set the promotion score: %v%s (crm_attribute %s)", err, lastLine(string(out)), strings.Join(args, " "))
	}
	return nil
}

// runHook runs a promote or demote hook within the operation's timeout.
func (c *config) runHook(ctx context.Context, h *hook, action string) error {
	if h == nil {
		return nil
	}
	if h.url != nil {
		return c.postHook(ctx, h, action)
	}
	if out, err := c.runAsVNFC(ctx, h.argv, "VNFHA_ACTION="+action); err != nil {
		if ctx.Err() != nil {
			return ocf.Generic("%s hook %s did not finish within the %s timeout", action, h, action)
		}
		return ocf.Generic("%s hook %s: %v%s", action, h, err, lastLine(out))
	}
	return nil
}

// postHook is an http or https hook: a POST that must answer 2xx. An https
// hook's server is verified as the health check's is (tls_verify,
// tls_ca_file).
func (c *config) postHook(ctx context.Context, h *hook, action string) error {
	client, err := c.httpClient()
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url.String(), strings.NewReader(""))
	if err != nil {
		return ocf.Generic("%s hook %s: %v", action, h, err)
	}
	req.Header.Set("User-Agent", "vnfha-vnfc-"+action)
	req.Close = true
	resp, err := client.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return ocf.Generic("%s hook %s did not answer within the %s timeout", action, h, action)
		}
		return ocf.Generic("%s hook %s: %v", action, h, unwrapURLError(err))
	}
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return ocf.Generic("%s hook %s: HTTP status %d %s", action, h, resp.StatusCode, http.StatusText(resp.StatusCode))
	}
	return nil
}

// runAsVNFC runs argv as the VNFC's user, in its directory, with its
// environment plus env, and returns the command's stdout and stderr. When
// ctx ends, the command's whole process group is killed, and pipes a
// grandchild may hold open are not waited for: a hook or check that hangs
// fails cleanly, within its timeout, instead of being killed by Pacemaker.
func (c *config) runAsVNFC(ctx context.Context, argv []string, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if c.cred != nil {
		cmd.SysProcAttr.Credential = &syscall.Credential{Uid: c.cred.uid, Gid: c.cred.gid, Groups: c.cred.groups}
	}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 100 * time.Millisecond
	cmd.Dir = c.workdir
	if cmd.Dir == "" {
		cmd.Dir = "/"
	}
	cmd.Env = append(c.environ(), env...)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
