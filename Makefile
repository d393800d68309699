# imh build, test and tooling. GNU make; every recipe runs in bash with
# pipefail so a failing command in a pipeline fails the target.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# Go may live in /usr/local/go/bin without being on PATH (fresh machines, CI).
export PATH := $(PATH):/usr/local/go/bin

GO ?= go
FUZZTIME ?= 10s
# make test runs every fuzz target briefly (issue 19): the seed corpus and
# testdata/fuzz crashers, plus this many new inputs each (a count, not a
# duration: see scripts/fuzz on golang/go#75804).
FUZZTIME_SMOKE ?= 500x
BENCHFLAGS ?=

# staticcheck, pinned; v0.8.2 (2026.2.2) builds with Go 1.26.
STATICCHECK_VERSION := 0.8.2
TOOLBIN := $(firstword $(subst :, ,$(shell $(GO) env GOPATH)))/bin
STATICCHECK := $(TOOLBIN)/staticcheck

.PHONY: all build run test test-unit test-integration lint staticcheck fuzz bench chaos soak clean

all: build

# -buildvcs=auto: `imh version` shows the commit even where GOFLAGS says otherwise.
build:
	$(GO) build -buildvcs=auto -o bin/imh ./cmd/imh

# The local demo: a simulated network, 4 routers and 3 agents on loopback
# (Ctrl-C ends it and cleans up).
run: build
	./bin/imh demo

# Integration tests run side by side, bounded by the suite's own pools
# (integration/pool_test.go: i2pd networks, CPU-bound clusters, light
# tests); -parallel only has to be larger than the number of tests.
INTEGRATION_PARALLEL ?= 64
INTEGRATION := $(GO) test -count=1 -tags integration -parallel $(INTEGRATION_PARALLEL) -timeout 30m ./integration/...

# Installs i2pd, iproute2 and the other test dependencies when root and
# missing, then unit tests under the race detector, every fuzz target for
# FUZZTIME_SMOKE, then integration/ (which builds imh once, without -race).
# As root the installer has just made sure i2pd is there, so the i2pd suites
# are required: they fail rather than skip.
test:
	scripts/install-test-deps
	if [ "$$(id -u)" = 0 ]; then export IMH_REQUIRE_I2PD=$${IMH_REQUIRE_I2PD:-1}; fi; \
	  $(GO) test -race -count=1 -shuffle=on -timeout 15m ./... && \
	  FUZZTIME=$(FUZZTIME_SMOKE) scripts/fuzz && \
	  $(INTEGRATION)

test-unit:
	$(GO) test -race -count=1 -shuffle=on -timeout 15m ./...

test-integration:
	$(INTEGRATION)

lint: staticcheck
	@unformatted=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -s -l); \
	if [ -n "$$unformatted" ]; then echo "gofmt -s: not formatted:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags integration ./integration/...
	$(STATICCHECK) ./...
	$(STATICCHECK) -tags integration ./integration/...

# Installs the pinned staticcheck unless that version is already there.
staticcheck:
	@$(STATICCHECK) -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION))' || \
	  GOBIN=$(TOOLBIN) $(GO) install honnef.co/go/tools/cmd/staticcheck@v$(STATICCHECK_VERSION)

fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz

# Benchmarks of every package (and integration/, which may start processes)
# go to bench/report.txt. Benchmarks that produce their own report files
# write them into $$IMH_BENCH_DIR (= bench/).
bench:
	@mkdir -p bench
	IMH_BENCH_DIR=$(CURDIR)/bench $(GO) test -run='^$$' -bench=. -benchmem -timeout 60m $(BENCHFLAGS) ./... | tee bench/report.txt
	IMH_BENCH_DIR=$(CURDIR)/bench $(GO) test -run='^$$' -bench=. -benchmem -timeout 60m -tags integration $(BENCHFLAGS) ./integration/... | tee -a bench/report.txt
	@echo "bench: report in bench/"; ls -1 bench

# A seeded chaos run of a chosen length (docs/reliability.md): the nemesis
# (agent and router kills, stalls, raft partitions, slow and flaky raft
# links, API and agent-router cuts, clock skew, a full data disk; every kind
# once first, then at random) under concurrent clients, the porcupine check
# and the invariants, then CHAOS_KILLS leader SIGKILLs. The full disk needs
# root (a tmpfs per agent); without it the run reports it unavailable.
# Report, history and porcupine's visualisation under chaos/; the same
# CHAOS_SEED replays the same fault schedule and client operations.
CHAOS_SEED ?= 1
CHAOS_DURATION ?= 10m
CHAOS_KILLS ?= 50
chaos:
	@mkdir -p chaos
	IMH_CHAOS_DIR=$(CURDIR)/chaos IMH_CHAOS_SEED=$(CHAOS_SEED) IMH_CHAOS_DURATION=$(CHAOS_DURATION) IMH_CHAOS_KILLS=$(CHAOS_KILLS) \
	  $(GO) test -count=1 -tags integration -timeout 0 -v -run '^(TestChaos|TestChaosLeaderKills)$$' ./integration/ 2>&1 | tee chaos/chaos-seed$(CHAOS_SEED).log
	@echo "chaos: reports under chaos/"; ls -1 chaos

# A long run (hours; not part of make test) of the chaos workload with every
# process's RSS, open fds and goroutines sampled (docs/reliability.md): the
# test fails when one of them grew over a process lifetime. Samples
# (samples.csv), the judgement (soak.json) and the chaos report under soak/.
SOAK_SEED ?= 1
SOAK_DURATION ?= 2h
soak:
	@mkdir -p soak
	IMH_SOAK_DIR=$(CURDIR)/soak IMH_SOAK_SEED=$(SOAK_SEED) IMH_SOAK_DURATION=$(SOAK_DURATION) \
	  $(GO) test -count=1 -tags integration -timeout 0 -v -run '^TestSoak$$' ./integration/ 2>&1 | tee soak/soak-seed$(SOAK_SEED).log
	@echo "soak: reports under soak/"; ls -1 soak

clean:
	rm -rf bin
	$(GO) clean -testcache
