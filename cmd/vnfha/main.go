// Command vnfha is the CLI for everything in vnfha that is not an OCF agent:
// the lab, and (as they arrive) the bridge and the checkpoint server.
//
// Invoked as fence_vnfha_lab (a link), it is the lab's fence agent.
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/vnfha/vnfha/lab"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

const usage = `vnfha: VNF high availability on Pacemaker/Corosync

Usage:
  vnfha lab <command> [flags]   a real Pacemaker cluster on this machine
  vnfha version                 print the version

Run "vnfha lab --help" for the lab's commands.
`

func main() {
	if filepath.Base(os.Args[0]) == lab.FenceAgentName {
		os.Exit(lab.FenceAgent(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return 2
	}
	switch args[0] {
	case "lab":
		return runLab(args[1:])
	case "version", "--version":
		fmt.Println("vnfha", version)
		return 0
	case "help", "-h", "--help":
		fmt.Print(usage)
		return 0
	default:
		fmt.Fprintf(os.Stderr, "vnfha: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}
