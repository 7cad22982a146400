package main

import (
	"context"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/sirupsen/logrus"
	"github.com/spf13/pflag"

	"github.com/vnfha/vnfha/bridge"
)

// DefaultBridgeConfig is where the packages install the bridge's config.
const DefaultBridgeConfig = "/etc/vnfha/bridge.yaml"

// runBridge is `vnfha bridge`: follow the CIB and keep HAProxy pools in
// step, until SIGTERM or SIGINT.
func runBridge(args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("vnfha bridge", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.StringP("config", "c", DefaultBridgeConfig, "the bridge's config file (YAML, docs/bridge.md)")
	check := fs.Bool("check-config", false, "check the config file and exit: 0 when it is valid")
	logJSON := fs.Bool("log-json", false, "log as JSON lines instead of text")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: vnfha bridge [--config FILE] [--check-config]\n\n"+
			"Follows the cluster's CIB and keeps every configured HAProxy pool equal to the\n"+
			"healthy instances of the configured resources. Run it as a cluster resource\n"+
			"(docs/bridge.md).\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == pflag.ErrHelp {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "vnfha bridge: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg, err := bridge.LoadConfig(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "vnfha bridge: %v\n", err)
		return 1
	}
	if *check {
		fmt.Fprintf(stdout, "%s: valid (%d HAProxy, %d services)\n", *cfgPath, len(cfg.HAProxy), len(cfg.Services))
		return 0
	}
	log := logrus.New()
	log.SetOutput(stderr)
	if *logJSON {
		log.SetFormatter(&logrus.JSONFormatter{})
	}
	if lvl, err := logrus.ParseLevel(cfg.LogLevel); err == nil {
		log.SetLevel(lvl)
	}
	b, err := bridge.New(cfg, bridge.Options{Log: log})
	if err != nil {
		fmt.Fprintf(stderr, "vnfha bridge: %v\n", err)
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	log.WithField("config", *cfgPath).Info("bridge starting")
	if err := b.Run(ctx); err != nil {
		log.WithError(err).Error("bridge stopped")
		return 1
	}
	log.Info("bridge stopped")
	return 0
}

