#!/bin/sh
# Runs every Go fuzz target in the module for a bounded time each
# (FUZZTIME, default 10s). go test -fuzz takes one target in one package at
# a time, so the targets are listed first.
set -eu
fuzztime=${FUZZTIME:-10s}
go test -list '^Fuzz' ./... | awk '
	/^Fuzz/ { targets[n++] = $1; next }
	/^ok / { for (i = 0; i < n; i++) print $2, targets[i]; n = 0 }
' | while read -r pkg target; do
	echo "fuzz: $pkg $target ($fuzztime)"
	go test -run='^$' -fuzz="^${target}\$" -fuzztime="$fuzztime" -fuzzminimizetime=1s "$pkg"
done
