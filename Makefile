# nicrt — build, test and demo entry points. Everything a fresh clone needs is
# built here; nothing built is committed.

GO       ?= go
BIN      ?= bin
FILTERS  := $(patsubst filters/%/main.go,%,$(wildcard filters/*/main.go))
WASMS    := $(patsubst %,filters/%.wasm,$(FILTERS))
GOSRC    := $(shell find . -name '*.go' -not -path './.git/*' 2>/dev/null)
# What every filter links besides its own directory: the guest layer and the
# filters' shared packages.
FILTERLIB := $(shell find filters/proxywasm filters/internal -name '*.go' -not -name '*_test.go' 2>/dev/null)

.PHONY: all build filters test vet bench demo clean help

all: build filters

help:
	@echo "make build     build bin/nicrt"
	@echo "make filters   build every filters/<name>/ into filters/<name>.wasm (stock Go, wasip1)"
	@echo "make test      build what the tests need, go vet, go test"
	@echo "make bench     run the Go benchmarks"
	@echo "make demo      the A/B experiment: Bookinfo's p90 latency in every topology at 1, 4 and 16"
	@echo "               connections (nicrt bench; about 3 minutes), report in results/demo/"

build: $(BIN)/nicrt

$(BIN)/nicrt: $(GOSRC) go.mod go.sum
	$(GO) build -o $@ ./cmd/nicrt

filters: $(WASMS)

# A filter is a Go reactor module: _initialize plus //go:wasmexport callbacks.
.SECONDEXPANSION:
filters/%.wasm: $$(wildcard filters/$$*/*.go) $(FILTERLIB) go.mod go.sum
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./filters/$*

vet:
	$(GO) vet ./...

test: build filters vet
	$(GO) test ./...

bench: build filters
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

# The experiment in one command: every topology this build has, interleaved,
# at 1, 4 and 16 connections; prints the p90 table and writes results/demo/
# (report.md, results.json/.csv, p90-vs-connections.png/.svg). DEMO_FLAGS
# adds or overrides nicrt bench flags, e.g. DEMO_FLAGS='--repeat 2'.
DEMO_FLAGS ?=
demo: build filters
	$(BIN)/nicrt bench --connections 1,4,16 --duration 6s --warmup 1s --out results/demo $(DEMO_FLAGS)

clean:
	rm -rf $(BIN) filters/*.wasm
