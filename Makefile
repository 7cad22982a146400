# vnfha: VNF high availability on Pacemaker/Corosync.
# `make demo` and `make test` do all the set-up on a fresh Debian 12
# machine, as root.

PREFIX   ?= /usr
OCF_ROOT ?= /usr/lib/ocf
DESTDIR  ?=
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO       ?= go
# Every fuzz target runs this long in make test: 80-odd targets at 10 s took
# 15 of make test's 25 minutes on 2 cores, and 87 at 4 s left make test at
# 26 minutes once the e2e tests had grown. A longer run of one target:
#   go test -run '^$' -fuzz '^FuzzX$' -fuzztime 10m ./pkg
FUZZTIME ?= 3s

SHELL := /bin/bash

# The cluster tools live in sbin, which a non-login root shell may lack.
export PATH := $(PATH):/usr/sbin:/sbin

BUILD   := build
LDFLAGS := -s -w -X main.version=$(VERSION)

.PHONY: all deps build install test unit e2e fuzz demo demo-build demo-down bench bench-report jepsen clean

all: build

deps:
	./scripts/deps.sh

# build lays out build/ as the lab expects it: bin/vnfha, bin/vnfha-agent
# and lib/ocf/resource.d/vnfha/<agent> links to the agent binary.
# The agent directory is updated in place, never recreated: a running lab
# has it bind-mounted.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BUILD)/bin/ ./cmd/vnfha ./cmd/vnfha-agent
	mkdir -p $(BUILD)/lib/ocf/resource.d/vnfha
	find $(BUILD)/lib/ocf/resource.d/vnfha -type l -delete
	for a in $$($(BUILD)/bin/vnfha-agent --list); do ln -s $(CURDIR)/$(BUILD)/bin/vnfha-agent $(BUILD)/lib/ocf/resource.d/vnfha/$$a; done

install: build
	install -D -m 0755 $(BUILD)/bin/vnfha $(DESTDIR)$(PREFIX)/bin/vnfha
	install -D -m 0755 $(BUILD)/bin/vnfha-agent $(DESTDIR)$(PREFIX)/lib/vnfha/vnfha-agent
	mkdir -p $(DESTDIR)$(OCF_ROOT)/resource.d/vnfha
	for a in $$($(BUILD)/bin/vnfha-agent --list); do ln -sf $(PREFIX)/lib/vnfha/vnfha-agent $(DESTDIR)$(OCF_ROOT)/resource.d/vnfha/$$a; done

# test runs everything: unit tests, every fuzz target for FUZZTIME, and the
# end-to-end tests against real Pacemaker clusters in the lab (root).
test: deps build unit fuzz e2e

# Never -short here: CI runs these targets, and testing.Short() skips are
# only allowed because CI does not use it (internal/testenv holds the one
# skip policy: skip locally, fail under CI=true).
unit:
	$(GO) vet ./...
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /test/e2e)

fuzz:
	FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

# One package at a time: lab clusters are timing-sensitive on 2 cores.
e2e: build
	$(GO) test -count=1 -p 1 -timeout 20m -v ./test/e2e/...

# demo deploys docs/operations.md's two set-ups on a lab named demo, sends
# client traffic, kills a process and powers a node off, and prints each
# fault's timeline (test/demo). The lab stays up; demo-down removes it.
demo: deps build demo-build
	$(BUILD)/bin/vnfha-demo --name demo --ops docs/operations.md --vnfha $(BUILD)/bin/vnfha \
		--agents $(BUILD)/lib/ocf/resource.d/vnfha --vnfc $(BUILD)/bin/vnfcd --vnfm $(BUILD)/bin/vnfm

demo-build:
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BUILD)/bin/ ./test/demo/cmd/vnfha-demo ./test/vnfcd ./test/vnfm/cmd/vnfm

demo-down:
	$(BUILD)/bin/vnfha lab down --name demo

# bench records what docs/benchmarks.md shows in docs/benchmarks/*.json,
# then draws it: bench-report draws it again from those files alone. One
# benchmark at a time (-p 1, and go test runs a package's benchmarks in
# turn): labs are timing-sensitive on 2 cores. 27 minutes on 2 cores.
#
# BENCH=quick takes one round where a benchmark allows it, and of the
# variants a benchmark compares only vnfha's main one beside the stock
# one (VNFHA_BENCH_QUICK=1, read by test/bench's rounds() and
# variants()): 4.7 minutes on 2 cores, deps and build included. Its
# results are recorded and drawn like a full run's (each file's setup says
# it was a quick run), but into $(BUILD)/bench-quick/, not docs/: a few rounds
# would otherwise replace the figures the docs quote with noisier ones.
# It skips BenchmarkCheckpointJepsen, which records nothing here and
# brings up two labs of its own (make jepsen runs it).
BENCH ?= full
ifeq ($(BENCH),quick)
BENCH_ENV  := VNFHA_BENCH_QUICK=1
BENCH_OUT  := $(BUILD)/bench-quick
BENCH_SKIP := -skip '^BenchmarkCheckpointJepsen$$'
else
BENCH_ENV  :=
BENCH_OUT  := docs
BENCH_SKIP :=
endif
bench: deps build
	mkdir -p $(BENCH_OUT)/benchmarks
	$(BENCH_ENV) VNFHA_BENCH_RESULTS=$(abspath $(BENCH_OUT))/benchmarks $(GO) test -count=1 -p 1 -run '^$$' -bench . $(BENCH_SKIP) -benchtime 1x -timeout 45m ./test/bench/...
	$(MAKE) bench-report BENCH_OUT=$(BENCH_OUT)

bench-report:
	$(GO) run ./test/benchreport/cmd/benchreport --results $(BENCH_OUT)/benchmarks --out $(BENCH_OUT)/benchmarks.md --charts $(BENCH_OUT)/benchmarks

# jepsen is the checkpoint store's long no-lost-write run, side by side
# with Redis (docs/checkpoint.md): JEPSEN_TRIALS failovers each (about
# 20 s a trial for vnfha's store, 30 s for Redis), then JEPSEN_HURRIED
# hurried ones (none by default: with Redis each may stall for minutes);
# JEPSEN_STORES=vnfha or redis runs one side only.
JEPSEN_TRIALS ?= 50
JEPSEN_HURRIED ?= 0
JEPSEN_STORES ?= .
jepsen: deps build
	VNFHA_JEPSEN_TRIALS=$(JEPSEN_TRIALS) VNFHA_JEPSEN_HURRIED=$(JEPSEN_HURRIED) $(GO) test -count=1 -p 1 -run '^$$' -bench 'CheckpointJepsen/$(JEPSEN_STORES)' -benchtime 1x -timeout 120m -v ./test/bench/

clean:
	rm -rf $(BUILD)
