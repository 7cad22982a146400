package vnfc

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"time"

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

// crmAttribute runs crm_attribute --promotion for this instance. It is the
// one external program the agent runs on start, stop, promote and demote;
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
