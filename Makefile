# hogpipe — see README.md. `make run` and `make test` are the two commands.
GO       ?= go
BIN      := bin/hogpipe
WEB_DIST := server/webdist

.PHONY: run test build build-api build-web serve-api serve-web bench fmt vet test-go test-web fuzz redact-report

run: build
	./$(BIN) serve

build: build-web build-api

build-api:
	$(GO) build -o $(BIN) ./cmd/hogpipe

build-web:
	@if [ -f web/package.json ]; then \
		cd web && ( [ -d node_modules ] || npm ci --no-audit --no-fund ) && npm run build; \
	else echo "build-web: not yet (no web/ app)"; fi

# The API alone, on :3000 (what the Vite dev server proxies to).
serve-api: build-api
	./$(BIN) serve

# Vite's dev server on :4200, proxying API and capture calls to :3000.
serve-web:
	@if [ -f web/package.json ]; then \
		cd web && ( [ -d node_modules ] || npm ci --no-audit --no-fund ) && npm run dev; \
	else echo "serve-web: not yet (no web/ app)"; fi

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	@bad=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$bad" ]; then echo "gofmt needed:"; echo "$$bad"; exit 1; fi
	$(GO) vet ./...

test: vet build-web test-web test-go fuzz

test-go:
	$(GO) test -race -count=1 ./...

# Every parser fuzzed for a bounded number of inputs; a crash fails the
# build and leaves the input in posthog/testdata/fuzz for a regression test.
# A count, not a duration: with -fuzztime 10s, Go 1.26's fuzz coordinator can
# report "context deadline exceeded" as a failure when the time runs out
# (go.dev/issue/75804, fixed in Go 1.27); it did in a clean-clone run here.
FUZZTIME ?= 40000x
# A target is NAME (in ./posthog) or PACKAGE:NAME.
FUZZ_TARGETS := FuzzParseWebhook FuzzDecodeCapture FuzzSignature ./redact:FuzzText
fuzz:
	@for t in $(FUZZ_TARGETS); do \
		case $$t in *:*) pkg=$${t%%:*}; f=$${t#*:};; *) pkg=./posthog; f=$$t;; esac; \
		echo "fuzz $$f ($$pkg) for $(FUZZTIME) inputs"; \
		$(GO) test $$pkg -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) || exit 1; \
	done

# Redaction's precision and recall on the labelled corpus, and the
# comparisons with gitleaks' rules and the old redactor (a module of its
# own, redact/compare, so gitleaks stays out of go.mod), written into
# docs/training-data.md.
redact-report:
	$(GO) test ./redact -run 'TestCorpus$$' -count=1 -update-doc
	cd redact/compare && $(GO) test . -run 'TestCompare' -count=1 -update-doc

test-web:
	@if [ -f web/package.json ]; then cd web && npm test; else echo "test-web: not yet (no web/ app)"; fi

# Benchmarks: figures go in docs/BENCHMARKS.md with the command that made them.
bench: build-api
	$(GO) test -run XXX -bench Ingest -benchtime 3s ./sqlstore
	$(GO) test -run XXX -bench Export1M -benchtime 1x -timeout 30m ./sqlstore
	$(GO) test -run XXX -bench EmailSend -benchtime 5000x ./cmd/hogpipe
	./$(BIN) bench --clients 64 --duration 10s
	./$(BIN) bench --scenario abuse --duration 10s
	bench/wrk.sh 10 64
