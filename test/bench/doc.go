// Package bench holds vnfha's benchmarks, run by `make bench`. They run
// against the real Pacemaker in the lab and report figures with
// b.ReportMetric, so that goals are measured, not asserted.
package bench
