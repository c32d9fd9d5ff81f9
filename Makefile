# nicrt — build, test and demo entry points. Everything a fresh clone needs is
# built here; nothing built is committed.

GO       ?= go
BIN      ?= bin
FILTERS  := $(patsubst filters/%/main.go,%,$(wildcard filters/*/main.go))
WASMS    := $(patsubst %,filters/%.wasm,$(FILTERS))
GOSRC    := $(shell find . -name '*.go' -not -path './.git/*' 2>/dev/null)

.PHONY: all build filters test vet bench clean help

all: build filters

help:
	@echo "make build     build bin/nicrt"
	@echo "make filters   build every filters/<name>/ into filters/<name>.wasm (stock Go, wasip1)"
	@echo "make test      build what the tests need, go vet, go test"
	@echo "make bench     run the Go benchmarks"

build: $(BIN)/nicrt

$(BIN)/nicrt: $(GOSRC) go.mod go.sum
	$(GO) build -o $@ ./cmd/nicrt

filters: $(WASMS)

# A filter is a Go reactor module: _initialize plus //go:wasmexport callbacks.
.SECONDEXPANSION:
filters/%.wasm: $$(wildcard filters/$$*/*.go) $(wildcard filters/proxywasm/*.go) go.mod
	GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath -o $@ ./filters/$*

vet:
	$(GO) vet ./...

test: build filters vet
	$(GO) test ./...

bench: build filters
	$(GO) test -run '^$$' -bench . -benchtime 2s ./...

clean:
	rm -rf $(BIN) filters/*.wasm
