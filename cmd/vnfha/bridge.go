package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"
	"time"

	"github.com/sirupsen/logrus"

	"github.com/vnfha/vnfha/bridge"
	"github.com/vnfha/vnfha/bridge/cluster"
)

// DefaultBridgeConfig is where the packages install the bridge's config.
const DefaultBridgeConfig = "/etc/vnfha/bridge.yaml"

// runBridge is `vnfha bridge`: follow the CIB and keep the HAProxy pools
// in step until SIGTERM or SIGINT; or, with --check-config, check the
// config and exit. `vnfha bridge watch-cib` prints what the bridge's CIB
// source sees, one JSON line per snapshot.
func (c cli) runBridge(args []string) int {
	if len(args) > 0 && args[0] == "watch-cib" {
		return c.runWatchCIB(args[1:])
	}
	cmd, _ := findCommand("bridge")
	fs := newFlagSet(cmd)
	cfgPath := fs.StringP("config", "c", DefaultBridgeConfig, "the bridge's config file (YAML; docs/bridge.md)")
	check := fs.Bool("check-config", false, "check the config file and exit: 0 when it is valid")
	logJSON := fs.Bool("log-json", false, "log JSON lines instead of text")
	if code, ok := c.parseFlags(cmd, fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.commandUsageErr(cmd, "unexpected argument %s", quote(fs.Arg(0)))
	}
	cfg, err := bridge.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(c.stderr, "vnfha bridge: %v\n", err)
		return exitError
	}
	if *check {
		// The sinks read their secret files, CAs and certificates: a
		// config whose files are missing or wrong is not valid.
		if cfg.HasSinks() {
			quiet := logrus.New()
			quiet.SetOutput(io.Discard)
			s, err := bridge.NewSinks(cfg, quiet, nil)
			if err != nil {
				fmt.Fprintf(c.stderr, "vnfha bridge: config %s: %v\n", *cfgPath, err)
				return exitError
			}
			s.Close()
		}
		fmt.Fprintf(c.stdout, "%s: valid (%d HAProxy, %d services, %d event sinks)\n", *cfgPath, len(cfg.HAProxy), len(cfg.Services), sinkCount(cfg))
		return exitOK
	}
	log := logrus.New()
	log.SetOutput(c.stderr)
	// µs timestamps, on every line: how long a failure takes to reach
	// HAProxy is read by lining these up with Pacemaker's and HAProxy's
	// own logs, and a second is far too coarse for that.
	if *logJSON {
		log.SetFormatter(&logrus.JSONFormatter{TimestampFormat: logTimeFormat})
	} else {
		log.SetFormatter(&logrus.TextFormatter{FullTimestamp: true, TimestampFormat: logTimeFormat})
	}
	if lvl, err := logrus.ParseLevel(cfg.LogLevel); err == nil {
		log.SetLevel(lvl)
	}
	b, err := bridge.New(cfg, bridge.Options{Log: log})
	if err != nil {
		fmt.Fprintf(c.stderr, "vnfha bridge: %v\n", err)
		return exitError
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.WithField("config", *cfgPath).Info("bridge starting")
	if err := b.Run(ctx); err != nil {
		log.WithError(err).Error("bridge stopped")
		return exitError
	}
	log.Info("bridge stopped")
	return exitOK
}

// sinkCount is the number of sinks the config sends events to.
func sinkCount(cfg *bridge.Config) int {
	n := len(cfg.Webhooks)
	if cfg.VNFM != nil {
		n++
	}
	return n
}

// logTimeFormat is RFC 3339 with µs, as HAProxy stamps its log ring.
const logTimeFormat = "2006-01-02T15:04:05.000000Z07:00"

// runWatchCIB is `vnfha bridge watch-cib`: a debugging aid that prints one
// JSON line per CIB snapshot the bridge's source publishes (its trigger,
// the CIB's version, and optionally the document).
func (c cli) runWatchCIB(args []string) int {
	cmd := command{name: "bridge watch-cib", args: "[--resync D] [--xml]",
		summary: "print one JSON line per CIB snapshot the bridge would act on"}
	fs := newFlagSet(cmd)
	resync := fs.Duration("resync", bridge.DefaultResync, "the resync interval")
	withXML := fs.Bool("xml", false, "include each CIB document")
	if code, ok := c.parseFlags(cmd, fs, args); !ok {
		return code
	}
	if fs.NArg() > 0 {
		return c.commandUsageErr(cmd, "unexpected argument %s", quote(fs.Arg(0)))
	}
	if *resync < 100*time.Millisecond {
		return c.commandUsageErr(cmd, "--resync %s: at least 100ms", *resync)
	}
	log := logrus.New()
	log.SetOutput(c.stderr)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := cluster.Watch(ctx, c.stdout, cluster.Options{Resync: *resync, Log: log}, *withXML); err != nil {
		fmt.Fprintf(c.stderr, "vnfha bridge watch-cib: %v\n", err)
		return exitError
	}
	return exitOK
}
