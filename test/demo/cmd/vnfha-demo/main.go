// Command vnfha-demo is `make demo`: see package demo.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/pflag"

	"github.com/vnfha/vnfha/test/demo"
)

func main() {
	var o demo.Options
	fs := pflag.NewFlagSet("vnfha-demo", pflag.ContinueOnError)
	fs.StringVar(&o.Name, "name", "demo", "the lab's name")
	fs.StringVar(&o.Ops, "ops", "docs/operations.md", "the operations guide whose marked blocks the demo runs")
	fs.StringVar(&o.Binary, "vnfha", "build/bin/vnfha", "the vnfha binary")
	fs.StringVar(&o.AgentDir, "agents", "build/lib/ocf/resource.d/vnfha", "the OCF agents' directory")
	fs.StringVar(&o.VNFCd, "vnfc", "build/bin/vnfcd", "the test VNFC")
	fs.StringVar(&o.VNFM, "vnfm", "build/bin/vnfm", "the test VNFM")
	fs.DurationVar(&o.Settle, "settle", 0, "how long to wait for a fault's events (default 45s)")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "vnfha-demo: the lab needs root")
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o.Out = os.Stdout
	if _, err := demo.Run(ctx, o); err != nil {
		fmt.Fprintf(os.Stderr, "vnfha-demo: %v\n(the lab stays as it is for a look: vnfha lab status --name %s; make demo-down removes it)\n", err, o.Name)
		os.Exit(1)
	}
}
