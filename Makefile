# bluegreen — common tasks. `make demo` and `make test` are the two a newcomer needs.
GO          ?= go
STATICCHECK_VERSION ?= v0.8.2
# Tools are built once per version outside the checkout, so that a fresh clone (CI) reuses them.
TOOLS       ?= $(HOME)/.cache/bluegreen/tools
STATICCHECK := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)

.PHONY: build test vet lint unit fuzz chaos demo bench clean

build:
	$(GO) build -o bin/bluegreen ./cmd/bluegreen

## test: what CI runs — vet, staticcheck and every test with the race detector.
test: vet lint unit

vet:
	$(GO) vet ./...

lint: $(STATICCHECK)
	$(STATICCHECK) ./...

unit:
	$(GO) test -race -count=1 -timeout 15m ./...

## fuzz: every fuzz target for FUZZTIME each (default 20s); CI runs it after test.
fuzz:
	bash scripts/fuzz.sh

## chaos: the chaos suite alone (docs/architecture.md#failure-behaviour); unit runs it too.
chaos:
	$(GO) test -race -count=1 -run 'Chaos|StateLost|Hang|Drip|Reset|Slowloris|SIGTERM|ConnLimit' ./internal/server/ ./internal/driver/process/

# staticcheck is built once per version into $(TOOLS) (no global install).
$(STATICCHECK):
	@mkdir -p $(TOOLS)
	GOBIN=$(TOOLS)/gobin $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)
	mv $(TOOLS)/gobin/staticcheck $@

## demo: a self-contained demo on the embedded default (about a minute).
demo:
	$(GO) run ./cmd/bluegreen demo

## bench: the router benchmark against nginx and the backend directly.
bench:
	bash bench/router/run.sh

clean:
	rm -rf bin .cache
