# vmtestbed — see README.md. Every target is safe to run on a fresh clone.
SHELL      := /bin/bash
GO         ?= go
BIN        := bin
GOTESTFLAGS ?= -race -timeout 25m
PKGS       := ./...
# Pinned code generators (make proto).
PROTOC_GEN_GO      := google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.11
PROTOC_GEN_GO_GRPC := google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
GOBIN_DIR  := $(shell $(GO) env GOPATH)/bin

.PHONY: all build run test test-realhv nightly deps bench lint proto proto-check tools clean record-avalanchego fuzz docs killrate killmatrix

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/vmtestbed ./cmd/vmtestbed
	$(GO) build -o $(BIN)/refvm ./cmd/refvm
	CGO_ENABLED=0 $(GO) build -o $(BIN)/vmagent ./cmd/vmagent
	@for v in $$($(BIN)/refvm --list-broken); do \
		echo "$(GO) build -o $(BIN)/refvm-broken-$$v ./cmd/refvm (variant $$v)"; \
		$(GO) build -ldflags "-X main.variant=$$v" -o $(BIN)/refvm-broken-$$v ./cmd/refvm || exit 1; \
	done

# The default scenario: three fake nodes with in-process reference VMs in one
# seeded simulated world; the report (with timeline.html) lands in bin/report.
run: build
	$(BIN)/vmtestbed run --seed 1 --report $(BIN)/report

test: deps
	$(GO) test $(GOTESTFLAGS) $(PKGS)

# What the tests need beyond Go: Debian's qemu-ga, the real peer of the QEMU
# guest agent tests, and Debian's chromium, the headless browser the scenario
# timeline is checked in. Installed when missing (root + apt), else explained.
deps:
	@command -v qemu-ga >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing qemu-guest-agent (real peer for the QGA tests)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-guest-agent >/dev/null; \
		else \
			echo "make test needs qemu-ga: apt-get install qemu-guest-agent (or set VMTESTBED_NO_QEMU_GA=1)"; exit 1; \
		fi; }
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing chromium (headless browser for the timeline tests)"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else \
			echo "the timeline tests need chromium (apt-get install chromium); they skip without it"; \
		fi; }

# Go native fuzzing of every decoder of outside input (recorded sessions, scenarios, virtio's handlers
# and line framing, the QGA client's replies and 0xFF resync, domain-XML discovery, the agents'
# request parsing, ...): each Fuzz target runs for FUZZTIME. Seed corpora live under each
# package's testdata/fuzz and also run in make test; .ci/run runs each target for 3s.
FUZZTIME ?= 20s
# Every package with a Fuzz target, found rather than listed.
FUZZPKGS ?= $(shell grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
fuzz:
	@for pkg in $(FUZZPKGS); do \
		for fz in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
			echo "fuzz $$pkg $$fz for $(FUZZTIME)"; \
			$(GO) test -run '^$$' -fuzz "^$$fz\$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

# The realhv tests on this machine's libvirt + QEMU (TCG where KVM cannot
# boot a guest). ci/realhv-setup.sh installs and starts what is missing; with
# VMTESTBED_REALHV=1 an unreachable libvirt fails instead of skipping.
# The second libvirt host ci/realhv-setup.sh --second-host starts.
LIBVIRT_URI2 ?= qemu+tcp://127.0.0.1:16510/system
test-realhv:
	ci/realhv-setup.sh --second-host
	VMTESTBED_REALHV=1 VMTESTBED_LIBVIRT_URI2=$(LIBVIRT_URI2) $(GO) test $(GOTESTFLAGS) ./realhv/...
	VMTESTBED_REALHV=1 VMTESTBED_LIBVIRT_URI2=$(LIBVIRT_URI2) \
		$(GO) test $(GOTESTFLAGS) -run 'TestConformBackends|TestRealhv|TestRunValidatorsOnRealGuests|TestRunRealhv' ./cmd/vmtestbed/

# The nightly matrix for KVM hosts (ci/nightly.sh): every suite and
# scenario on the fake backend and on realhv over both libvirt hosts, reports
# and a summary page under bin/nightly/DATE. NIGHTLY_FLAGS=--quick for a
# short tier.
NIGHTLY_FLAGS ?=
nightly: build
	ci/nightly.sh --no-build $(NIGHTLY_FLAGS)

bench:
	$(GO) test -run '^$$' -bench . -benchmem -count 1 $(PKGS)

lint: tools
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(GOBIN_DIR)/staticcheck $(PKGS)

tools:
	@test -x $(GOBIN_DIR)/staticcheck || $(GO) install honnef.co/go/tools/cmd/staticcheck@v0.8.2
	@test -x $(GOBIN_DIR)/protoc-gen-go || $(GO) install $(PROTOC_GEN_GO)
	@test -x $(GOBIN_DIR)/protoc-gen-go-grpc || $(GO) install $(PROTOC_GEN_GO_GRPC)

# Regenerate Go from proto/. Requires protoc (Debian: protobuf-compiler).
proto: tools
	cd proto && PATH=$(GOBIN_DIR):$$PATH protoc -I . \
		--go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative \
		$$(find . -name '*.proto' | sort)

# Fails if the committed generated code differs from what make proto writes.
proto-check: proto
	@git diff --exit-code -- proto || (echo "generated protobuf code drifted: run make proto and commit"; exit 1)

# Recordings of a real AvalancheGo v1.14.2 network (1 node, then 2) driving
# xsvm through vmtestbed's recorder (docs/RECORD_AVALANCHEGO.md). Not part of
# make test: it builds the real node (~10 min cold, cached after) and runs it.
# tools/recordnet is a module of its own (AvalancheGo v1.14.2); ./... skips it.
RECORDINGS     := fakes/avalanchego/testdata/recordings/avalanchego-v1.14.2
RECORDNET_FLAGS ?=
record-avalanchego:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/vmtestbed ./cmd/vmtestbed
	cd tools/recordnet && $(GO) run . --vmtestbed ../../$(BIN)/vmtestbed --out ../../$(RECORDINGS) $(RECORDNET_FLAGS)

# docs/CONFORMANCE.md from the suites' spec tables and their committed kill
# matrices (conformance/*/testdata/killmatrix.json); runs no suite. A test in
# make test (tools/gendocs) fails when the committed file is out of date.
docs:
	$(GO) run ./tools/gendocs

# The suites' kill matrices (internal/killtest): every broken target of the
# three suites, each in a child process. killrate measures them and prints,
# per suite, specs, killed, killed by a semantic fault and the specs no
# semantic fault kills; it fails below 100% killed or 80% semantic.
# killmatrix records them under conformance/*/testdata and rewrites the docs.
KILLTESTS := ^(TestEverySpecCanFail|TestFaults|TestTargetsFail)$$
KILLPKGS  := ./conformance/avalanche ./conformance/hypervisor ./conformance/guestagent
killrate:
	@dir=$$(mktemp -d) && trap 'rm -rf "$$dir"' EXIT; \
	VMTESTBED_KILLMATRIX_OUT=$$dir $(GO) test -count=1 -run '$(KILLTESTS)' $(KILLPKGS); rc=$$?; \
	if ls $$dir/*.json >/dev/null 2>&1; then $(GO) run ./tools/killrate $$dir/*.json || rc=1; fi; exit $$rc

killmatrix:
	VMTESTBED_UPDATE_KILLMATRIX=1 $(GO) test -count=1 -run '$(KILLTESTS)' $(KILLPKGS)
	$(GO) run ./tools/gendocs

clean:
	rm -rf $(BIN)
