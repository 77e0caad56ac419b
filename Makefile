# zkbalance — see README.md. Everything a target needs (Go modules, the Kafka
# and ZooKeeper jars) is fetched on first use and cached.
SHELL    := /bin/bash
GO       ?= go
PKGS     ?= ./...
# Per-package test timeout; the whole suite is meant to stay under ~25 min on 2 cores.
TEST_TIMEOUT ?= 20m
FUZZTIME ?= 60s

.PHONY: all build demo test fmt-check vet unit fuzz fuzz-smoke bench chaos jars chromium clean

all: build

## build: bin/zkbalance (the ops tool for real clusters: consume, produce,
## status, migrate-offsets) and bin/demo (the local cluster and the
## scenarios).
## The commit goes into 'zkbalance version' from the build info that go build
## records in a git checkout, else (a git worktree, GOFLAGS=-buildvcs=false)
## from these linker flags.
VCS_REVISION := $(shell git rev-parse HEAD 2>/dev/null)
VCS_MODIFIED := $(shell git diff --quiet HEAD -- 2>/dev/null && echo false || echo true)
LDFLAGS  := -X github.com/zkbalance/zkbalance/internal/cli.vcsRevision=$(VCS_REVISION) -X github.com/zkbalance/zkbalance/internal/cli.vcsModified=$(VCS_MODIFIED)
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/zkbalance ./cmd/zkbalance
	$(GO) build -ldflags '$(LDFLAGS)' -o bin/demo ./cmd/demo

## demo: bring up a local ZooKeeper + Kafka (3 brokers) in the background, run
## the two seed scenarios (blocked-consume with the legacy lock-holding
## members first, then slow-handler), print the status of the first one's
## group (zkbalance status, which finds the cluster in the .zkbalance.env
## file demo up writes), shut the cluster down.
demo: build
	@set -e; ./bin/demo up --detach --broker-count 3 --topic ""; trap './bin/demo down' EXIT; \
	echo; echo '$$ demo scenario blocked-consume --legacy-lock'; \
	./bin/demo scenario blocked-consume --legacy-lock --group demo-blocked; \
	echo; echo '$$ zkbalance status --group demo-blocked'; env -u ZKBALANCE_ZOOKEEPER -u ZKBALANCE_BROKERS ./bin/zkbalance status --group demo-blocked; \
	echo; echo '$$ demo scenario slow-handler'; ./bin/demo scenario slow-handler --count 100 --delay 250ms; \
	echo; echo '$$ demo scenario migrate'; ./bin/demo scenario migrate

## test: format check, vet, and every test with the race detector, including
## the integration tests against the real ZooKeeper and Kafka and the ui
## page's test in a real headless Chromium (installed first: chromium).
## The full -v log goes to test.log; the console shows every test's result
## line (so a skipped integration test would show as --- SKIP) and the
## real-cluster start lines; when a test fails, its own output follows at
## the end (tools/testfailures.awk).
test: fmt-check vet chromium
	@set -o pipefail; echo '$(GO) test -race -count=1 -v -timeout $(TEST_TIMEOUT) $(PKGS) | tee test.log'; \
	$(GO) test -race -count=1 -v -timeout $(TEST_TIMEOUT) $(PKGS) 2>&1 | tee test.log | \
	  grep --line-buffered -E '^(--- (PASS|FAIL|SKIP)| +--- (FAIL|SKIP)|ok |FAIL|panic:|real cluster:|\?)|RESULT'; \
	rc=$$?; if [ $$rc -ne 0 ]; then awk -f tools/testfailures.awk test.log; exit $$rc; fi
	@$(MAKE) --no-print-directory fuzz-smoke

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet $(PKGS)

## chromium: install headless Chromium for TestUIBrowser (cmd/zkbalance: the
## 'zkbalance ui' page in a real browser), Debian's chromium package, when
## no chromium is on PATH; make test runs it first. It needs root (apt-get);
## when the install fails, it exits 1 with the command and apt's error (and
## the test, without a browser, fails saying to run this target).
## $ZKBALANCE_CHROMIUM names another Chromium or Chrome binary instead.
CHROMIUM_INSTALL := apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium
chromium:
	@if [ -n "$$ZKBALANCE_CHROMIUM" ]; then echo "chromium: $$ZKBALANCE_CHROMIUM (\$$ZKBALANCE_CHROMIUM)"; \
	elif command -v chromium >/dev/null 2>&1; then echo "chromium: $$(command -v chromium)"; \
	else echo "chromium: installing: $(CHROMIUM_INSTALL)"; start=$$(date +%s); \
	  if ! ( $(CHROMIUM_INSTALL) ) >/tmp/zkbalance-chromium-install.log 2>&1; then \
	    cat /tmp/zkbalance-chromium-install.log >&2; \
	    echo "make chromium: could not install headless Chromium for TestUIBrowser; the command was: $(CHROMIUM_INSTALL)" >&2; exit 1; \
	  fi; echo "chromium: installed $$(command -v chromium) in $$(( $$(date +%s) - start ))s"; fi

## unit: every test that needs no cluster, in every package, with the race
## detector: -short makes each test that needs the real ZooKeeper + Kafka
## skip before it starts one (a package starts its cluster only when its
## first such test runs), so no JVM, Java or Maven is needed.
unit:
	$(GO) test -short -race -count=1 $(PKGS)

## fuzz: run every fuzz target (every parser, the assignors, Config
## validation) for $(FUZZTIME) each; make test runs them for
## $(FUZZTIME_SMOKE) each. The smoke budget is a count, not a duration: Go
## 1.26's fuzz coordinator can fail a duration run with a bare "context
## deadline exceeded" when the time is up while a worker is busy
## (golang/go#75804, fixed in Go 1.27); a count has no deadline to race.
FUZZ_PKGS ?= $(shell grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
FUZZTIME_SMOKE ?= 5000x
fuzz:
	@set -e; for pkg in $(FUZZ_PKGS); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== fuzz $$pkg $$f ($(FUZZTIME))"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; \
	done

fuzz-smoke:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME_SMOKE)

## bench: the side-by-side benchmark (test/bench, TestSideBySide), all in
## one run against one real cluster (3 brokers): consume throughput of
## zkbalance, raw sarama PartitionConsumers, sarama's ConsumerGroup and
## pykafka's BalancedConsumer (1M x 1 KiB over 8 partitions, 3 rounds);
## rebalance latency of a join at 4, 16 and 32 members x 256 partitions (20
## joins each: zkbalance scala-range and sticky, ConsumerGroup, pykafka);
## ZooKeeper owner writes of one join at 16 x 256 for every assignor; RSS of
## a member owning 1000 partitions, and of an idle one owning 4096 (3
## rounds); the processing gap per partition while
## a group of 16 x 256 under a steady stream switches from ZooKeeper to
## Kafka coordination (the old way: stop all, migrate offsets, start in
## kafka mode). It writes BENCHMARKS.md (machine,
## versions, date, method, targets). BENCH_FLAGS adds or overrides -bench.*
## flags, e.g. BENCH_FLAGS='-bench.members 4,16 -bench.joins 5'. make test
## runs the smoke sizes. The older Go benchmarks stay in balanced/
## (go test -run '^$$' -bench . ./balanced/).
BENCH_FLAGS   ?=
BENCH_TIMEOUT ?= 4h
bench:
	$(GO) test -count=1 -v -run '^TestSideBySide$$' -timeout $(BENCH_TIMEOUT) ./test/bench/ \
	  -bench.full -bench.out $(CURDIR)/BENCHMARKS.md $(BENCH_FLAGS)

## chaos: the long chaos run (the short one is part of make test): real
## member processes, kill -9, session expiry through a cut proxy, ZooKeeper
## restarts, broker kill -9, joins and leaves, resets, stalls and drops of
## ZooKeeper and broker connections (every connection goes through a proxy);
## then the same schedule against a 3-server ZooKeeper ensemble with
## ensemble faults (TestChaos/ensemble: leader kill -9, follower and rolling
## restarts, one server cut off from its clients or refusing them).
SEED ?= 7
CHAOS_MESSAGES ?= 100000
CHAOS_FAULTS ?= 50
CHAOS_DURATION ?= 5m
chaos:
	$(GO) test -count=1 -run 'TestChaos$$' -v -timeout 60m ./test/chaos/ -chaos.seed $(SEED) \
	  -chaos.messages $(CHAOS_MESSAGES) -chaos.faults $(CHAOS_FAULTS) -chaos.duration $(CHAOS_DURATION) -chaos.ensemble

## jars: resolve the Kafka and ZooKeeper jars, and the Kafka 4 jars of
## cluster.Config.KRaft, into the cache now.
jars: build
	./bin/demo up --topic "" --for 1s --env-file "" >/dev/null
	./bin/demo up --kraft --topic "" --for 1s --env-file "" >/dev/null

clean:
	rm -rf bin
