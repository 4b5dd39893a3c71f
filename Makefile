# Phala-Go. `make dev` runs the whole network; `make test` is what CI runs.
GO        ?= go
BIN       := bin
FUZZTIME  ?= 2s
# Packages with concurrency, run again under the race detector.
RACE_PKGS := ./chain/app/... ./chain/store/... ./crypto/keyring/... ./client/... ./node/... ./pruntime/... ./pherry/... ./contract/vm/...
# Modules of their own: the contract SDK and the example contracts (built to Wasm by contract tests).
SUBMODULES := sdk examples/contracts

.PHONY: all build dev test unit race fuzz e2e lint bench generate clean

all: build

# pruntime is static (no cgo) so that its measurement covers all of its code.
build:
	$(GO) build -o $(BIN)/phala ./cmd/phala
	CGO_ENABLED=0 $(GO) build -trimpath -o $(BIN)/pruntime ./cmd/pruntime

dev: build
	$(BIN)/phala dev

test: lint unit race fuzz

unit:
	$(GO) test -count=1 -timeout 20m ./...
	@set -e; for m in $(SUBMODULES); do $(GO) -C $$m vet ./...; GOOS=wasip1 GOARCH=wasm $(GO) -C $$m vet ./...; $(GO) -C $$m test -count=1 ./...; done

race:
	$(GO) test -count=1 -race -timeout 20m $(RACE_PKGS)

# Runs every fuzz target for FUZZTIME (the seeds always run as part of `unit`). Go 1.26's fuzz
# coordinator can fail a target with a bare "context deadline exceeded" as -fuzztime expires
# (go.dev/issue/75804, fixed in Go 1.27); such a run found nothing and wrote no crasher, so it is
# retried. Any other failure, or a written crasher, fails at once with the output shown.
fuzz:
	@set -e; out=$$(mktemp); trap 'rm -f $$out' EXIT; \
	for file in $$(grep -rl --include='*_test.go' '^func Fuzz' --exclude-dir=tools .); do \
		dir=$$(dirname $$file); mod=.; pkg=$$dir; \
		for m in $(SUBMODULES); do case $$dir in ./$$m|./$$m/*) mod=$$m; pkg=.$${dir#./$$m};; esac; done; \
		for target in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$file | cut -c6-); do \
			echo "fuzz $$dir $$target"; \
			for try in 1 2 3; do \
				if $(GO) -C $$mod test -run='^$$' -fuzz="^$$target\$$" -fuzztime=$(FUZZTIME) $$pkg >$$out 2>&1; then break; fi; \
				if [ $$try -lt 3 ] && grep -q 'context deadline exceeded' $$out && ! grep -q 'Failing input written' $$out; then \
					echo "  coordinator deadline race (go.dev/issue/75804), retrying"; continue; fi; \
				cat $$out; exit 1; \
			done; \
		done; \
	done

e2e:
	$(GO) test -count=1 -timeout 20m ./test/e2e/...

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) mod verify

bench: build
	$(GO) test -run='^$$' -bench=. $$($(GO) list ./... | grep -v /test/e2e)
	$(BIN)/phala bench transfers
	$(BIN)/phala bench sync
	$(BIN)/phala bench contracts
	$(BIN)/phala bench messages

# Regenerates the protobuf code with the tools pinned in tools/go.mod.
generate:
	cd tools && $(GO) build -o ../.cache/tools/ github.com/bufbuild/buf/cmd/buf google.golang.org/protobuf/cmd/protoc-gen-go connectrpc.com/connect/cmd/protoc-gen-connect-go
	.cache/tools/buf lint proto
	.cache/tools/buf generate

clean:
	rm -rf $(BIN) .cache
