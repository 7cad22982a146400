#!/bin/sh
# Runs every Go fuzz target in the module for a bounded time each
# (FUZZTIME, default 10s). go test -fuzz takes one target in one package at
# a time, so the targets are listed first.
#
# Go before 1.27 can end a duration-bounded fuzz run with a bare "context
# deadline exceeded" although nothing failed: its coordinator races its own
# deadline (golang/go#75804), more often on a loaded machine. A real
# finding always prints "Failing input written to" (and writes the input
# under testdata/fuzz), or a panic or a test error; a run that ends with
# the bare deadline and none of those is run once more, and only a second
# failure fails the target.
set -eu
fuzztime=${FUZZTIME:-10s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT

# flake reports whether the run logged in $out ended only by the
# coordinator's deadline.
flake() {
	grep -q 'context deadline exceeded' "$out" &&
		! grep -q -e 'Failing input written to' -e '^panic:' -e '_test\.go:[0-9]*:' "$out"
}

go test -list '^Fuzz' ./... | awk '
	/^Fuzz/ { targets[n++] = $1; next }
	/^ok / { for (i = 0; i < n; i++) print $2, targets[i]; n = 0 }
' | while read -r pkg target; do
	for try in 1 2; do
		echo "fuzz: $pkg $target ($fuzztime)"
		if go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$pkg" >"$out" 2>&1; then
			cat "$out"
			break
		fi
		cat "$out"
		if [ "$try" = 1 ] && flake; then
			echo "fuzz: $target ended by the fuzzing engine's own deadline, with no failing input (golang/go#75804); once more"
			continue
		fi
		exit 1
	done
done
