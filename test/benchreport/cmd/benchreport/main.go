// Command benchreport draws docs/benchmarks.md and its charts from the
// results the benchmarks recorded (see package benchreport).
package main

import (
	"fmt"
	"os"

	flag "github.com/spf13/pflag"

	"github.com/vnfha/vnfha/test/benchreport"
)

func main() {
	in := flag.String("results", "docs/benchmarks", "directory of the recorded results (*.json)")
	md := flag.String("out", "docs/benchmarks.md", "the report to write")
	charts := flag.String("charts", "docs/benchmarks", "directory for the SVG charts")
	flag.Parse()
	all, err := benchreport.ReadDir(*in)
	if err == nil && len(all) == 0 {
		err = fmt.Errorf("no results in %s: run make bench first", *in)
	}
	if err == nil {
		err = benchreport.Generate(all, *md, *charts)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchreport:", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s and its charts in %s from %d benchmarks' results\n", *md, *charts, len(all))
}
