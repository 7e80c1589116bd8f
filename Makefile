# hogpipe — see README.md. `make run` and `make test` are the two commands.
GO       ?= go
BIN      := bin/hogpipe
WEB_DIST := server/webdist

.PHONY: run test build build-api build-web serve-api serve-web bench fmt vet test-go test-web lint-web fuzz deploy-rehearsal redact-report

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

test: vet build-web lint-web test-web test-go fuzz

test-go:
	$(GO) test -race -count=1 ./...

# Every parser fuzzed for a bounded number of inputs; a crash fails the
# build and leaves the input in posthog/testdata/fuzz for a regression test.
# A count, not a duration: with -fuzztime 10s, Go 1.26's fuzz coordinator can
# report "context deadline exceeded" as a failure when the time runs out
# (go.dev/issue/75804, fixed in Go 1.27); it did in a clean-clone run here.
FUZZTIME ?= 40000x
# A target is Name (in ./posthog) or pkg:Name, optionally :count to give an
# expensive target its own input count (FuzzIngestOracle drives the whole
# HTTP handler and a SQLite store per input); such a target also minimizes
# each new input in 20 runs rather than up to 60 s, which at ~30 reads per
# run would otherwise dominate its time.
FUZZ_TARGETS := FuzzParseWebhook FuzzDecodeCapture FuzzScanShape FuzzSignature .:FuzzRecipientKey redact:FuzzText sqlstore:FuzzIngestOracle:3000x server:FuzzHandlersNothingStoredOnRefusal:20000x
fuzz:
	@for spec in $(FUZZ_TARGETS); do \
		pkg=posthog; f=$$spec; n=$(FUZZTIME); min=; \
		case $$spec in *:*) pkg=$${spec%%:*}; f=$${spec#*:};; esac; \
		case $$f in *:*) n=$${f#*:}; f=$${f%%:*}; min="-fuzzminimizetime 20x";; esac; \
		echo "fuzz $$f ($$pkg) for $$n inputs"; \
		$(GO) test ./$$pkg -run '^$$' -fuzz "^$$f\$$" -fuzztime $$n $$min || exit 1; \
	done

# Redaction's precision and recall on the labelled corpus, and the
# comparisons with gitleaks' rules and the old redactor (a module of its
# own, redact/compare, so gitleaks stays out of go.mod), written into
# docs/training-data.md.
redact-report:
	$(GO) test ./redact -run 'TestCorpus$$' -count=1 -update-doc
	cd redact/compare && $(GO) test . -run 'TestCompare' -count=1 -update-doc

# ESLint (typescript-eslint recommended, React hooks rules) and the type
# check that holds the web app's API contract; web/lint/ has its own
# packages (see web/lint/eslint.config.js), installed on first use.
lint-web:
	@if [ -f web/package.json ]; then \
		cd web && ( [ -d node_modules ] || npm ci --no-audit --no-fund ) && npm run lint; \
	else echo "lint-web: not yet (no web/ app)"; fi

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

# The rolling upgrade of docs/deploy.md, rehearsed on this machine against the
# PostgreSQL named by HOGPIPE_TEST_DATABASE_URL (a schema is created in it and
# dropped): the release FROM (a tag or commit of this repository) is built from
# git history, two replicas of it serve under retrying load, and replicas of
# the working tree (with a test-only schema change) replace them one by one.
# Prints what was acknowledged, stored and written, and where the training
# file's writer role went. This is TestRollingUpgrade.
FROM ?= 56144a1
deploy-rehearsal:
	@test -n "$$HOGPIPE_TEST_DATABASE_URL" || { echo "deploy-rehearsal: set HOGPIPE_TEST_DATABASE_URL to a PostgreSQL URL, e.g. postgres://postgres:secret@127.0.0.1:5432/postgres?sslmode=disable"; exit 2; }
	HOGPIPE_REHEARSAL_FROM=$(FROM) $(GO) test -count=1 -run '^TestRollingUpgrade$$' -v ./cmd/hogpipe
