# gcftrace: `make run` runs the main job, `make test` runs every test.

GO        ?= go
# Nested modules (examples, benchmarks, interop tests) keep their heavy
# dependencies out of the library's go.mod.
MODULES   := . $(patsubst %/go.mod,%,$(wildcard examples/go.mod bench/go.mod interop/go.mod))
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2
FUZZTIME  ?= 5s
BENCHTIME ?= 1s

.PHONY: all run test lint fmt fmt-check vet staticcheck tidy-check unit fuzz-short fuzz bench cover tidy examples ci soak

all: fmt lint test

## run: the main job: a traced function served by functions-framework-go,
## exported to an embedded OTLP receiver, printed as a trace tree.
run:
	cd examples && $(GO) run ./local $(ARGS)

## test: lint, then the race-enabled tests of every module and a brief fuzz.
test: lint unit fuzz-short

unit:
	@for m in $(MODULES); do \
		echo "== go test $$m"; \
		(cd $$m && $(GO) test -race -shuffle=on -count=1 ./...) || exit 1; \
	done

lint: fmt-check vet staticcheck tidy-check

fmt-check:
	@bad=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	@for m in $(MODULES); do (cd $$m && $(GO) vet ./...) || exit 1; done

staticcheck:
	@for m in $(MODULES); do (cd $$m && $(GO) run $(STATICCHECK) ./...) || exit 1; done

tidy-check:
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy -diff) || { echo "go.mod of $$m is not tidy"; exit 1; }; done

tidy:
	@for m in $(MODULES); do (cd $$m && $(GO) mod tidy) || exit 1; done

## fuzz-short / fuzz: every native fuzz target, briefly (make test) or at length.
# Fuzz targets of the library module (not the nested ones), found by name;
# `go test -fuzz` takes one target per run.
FUZZ_FILES = $(shell git ls-files '*_test.go' | grep -v -e '^examples/' -e '^bench/' -e '^interop/')
# make test gives each target an execution count, not a duration: with a
# duration, Go 1.26's fuzz coordinator can fail a target with a bare
# "context deadline exceeded" when the time runs out while a worker is busy
# (golang/go#75804, fixed in Go 1.27), without any finding.
fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=10000x

fuzz:
	@for file in $$(grep -l '^func Fuzz' $(FUZZ_FILES)); do \
		for f in $$(grep -o '^func Fuzz[A-Za-z0-9_]*' $$file | sed 's/func //'); do \
			echo "== fuzz $$f ($$(dirname $$file), $(FUZZTIME))"; \
			$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) ./$$(dirname $$file) || exit 1; \
		done; \
	done

## bench: side-by-side benchmarks against the anchors, printed as ratios.
bench:
	cd bench && $(GO) run ./cmd/report -benchtime=$(BENCHTIME) $(BENCHFLAGS)

## soak: the full fault soak (about 2 minutes): a traced function under
## load while the OTLP endpoint and the metadata server misbehave; prints the
## report and fails when a check does. The short version runs in make test.
soak:
	cd interop && $(GO) run ./cmd/soak $(ARGS)

cover:
	$(GO) test -coverprofile=coverage.out ./...
	$(GO) tool cover -html=coverage.out -o coverage.html

examples:
	cd examples && $(GO) build ./...

ci: test
