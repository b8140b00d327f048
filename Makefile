# hello-lambda-otel: `make run` serves the tutorial on http://localhost:8080/test/helloworld, `make test` checks everything.

VENV    := .tools/venv
LISTEN  ?= 127.0.0.1:8080
CONCURRENCY ?= 1
NEXTEST_PROFILE := $(if $(CI),ci,default)

.PHONY: run run-deployed build test test-rust test-terraform test-stack lint tools prometheus bench bench-tools bench-peers bench-billed fuzz fuzz-smoke clean

## Build the release binaries and serve the stage with the function as local processes (no Docker).
run: build
	target/release/apigw-local --listen $(LISTEN) --function target/release/bootstrap --concurrency $(CONCURRENCY)

## `make run` as deployed: the function gets the environment the terraform gives it (terraform/function-environment.env,
## one --function-env per line), so it sends its spans to X-Ray and writes its metrics as EMF lines in its log. A UDP
## listener on XRAY_DAEMON stands in for the X-Ray daemon and shows each segment document it receives; the EMF lines
## come through with the function's log; the trace view shows the gateway's spans.
XRAY_DAEMON ?= 127.0.0.1:2000
run-deployed: build
	set --; while IFS= read -r variable || [ -n "$$variable" ]; do \
		case "$$variable" in ''|'#'*) ;; *) set -- "$$@" --function-env "$$variable" ;; esac; \
	done < terraform/function-environment.env; \
	exec target/release/apigw-local --listen $(LISTEN) --function target/release/bootstrap \
		--concurrency $(CONCURRENCY) --xray-daemon $(XRAY_DAEMON) "$$@"

build:
	cargo build --release --workspace --locked

## Everything this machine can check: formatting, lints, unit, end-to-end and peer tests, Terraform (plan tests,
## checkov, a real apply against the moto AWS emulator), and the container image, compose stack and dashboards.
test: test-rust test-terraform test-stack

## The parts of `make test`, one at a time.
test-rust: tools lint
	cargo build --workspace --locked
	cargo nextest run --workspace --locked --profile $(NEXTEST_PROFILE)

test-terraform:
	terraform/tests/run.sh

test-stack: prometheus
	scripts/check-stack.sh

## The real Prometheus the stack check's live dashboard test runs: Debian's package, unpacked under .tools/ with apt
## state of its own (nothing installed system-wide; scripts/prometheus.sh says which version and why).
prometheus:
	scripts/prometheus.sh

lint:
	cargo fmt --all -- --check
	cargo fmt --all --manifest-path apigw-local/benches/peer/Cargo.toml -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## Test tools that are not Rust crates, pinned, in a venv of their own: cargo-lambda's Runtime API and rotel's OTLP
## collector (binary site-packages/rotel/rotel-agent) are peers to test against.
CARGO_LAMBDA_VERSION := 1.9.2
ROTEL_VERSION := 0.0.1a15
PIP := $(VENV)/bin/pip install --quiet --disable-pip-version-check

tools: $(VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION) $(VENV)/.rotel-$(ROTEL_VERSION)

$(VENV)/bin/python:
	python3 -m venv $(VENV)

$(VENV)/.cargo-lambda-$(CARGO_LAMBDA_VERSION): | $(VENV)/bin/python
	$(PIP) cargo-lambda==$(CARGO_LAMBDA_VERSION)
	touch $@

$(VENV)/.rotel-$(ROTEL_VERSION): | $(VENV)/bin/python
	$(PIP) rotel==$(ROTEL_VERSION)
	touch $@

## Bench-only tools, kept out of `tools` so that `make test` does not need them: AWS's Python Runtime Interface Client,
## which runs the tutorial's handler (apigw-local/benches/peer/tutorial.py) as the peer function, wrk (Debian's),
## the load generator of the end-to-end bench, and valgrind (Debian's), whose callgrind counts the log line bench's
## instructions.
AWSLAMBDARIC_VERSION := 4.2.2

bench-tools: $(VENV)/.awslambdaric-$(AWSLAMBDARIC_VERSION)
	@command -v wrk >/dev/null 2>&1 || apt-get install -y -qq wrk || { echo "the bench needs wrk: apt-get install wrk" >&2; exit 1; }
	@command -v valgrind >/dev/null 2>&1 || apt-get install -y -qq valgrind || { echo "the bench needs valgrind: apt-get install valgrind" >&2; exit 1; }

$(VENV)/.awslambdaric-$(AWSLAMBDARIC_VERSION): | $(VENV)/bin/python
	$(PIP) awslambdaric==$(AWSLAMBDARIC_VERSION)
	touch $@

## Into BENCHMARKS.md: cold start, per-invocation latency, flush time, Runtime API connections and footprint of the
## release `bootstrap`, telemetry off vs on (healthy, refusing, hanging and slow collector), side by side with the
## Python peer and a null function (benches/invocation.rs); then requests/s and latency through apigw-local under wrk,
## and cargo-lambda's emulator as a peer host (benches/end_to_end.rs); then what one log line costs, logs.rs's
## formatter against maintained ones (lambda-otel/benches/log_line.rs); then billed time, latency, CPU and
## instructions per invocation and cold starts under Lambda's CPU share of 128, 512 and 1,769 MB, telemetry off and
## on, side by side with other OpenTelemetry integrations for Lambda and the Python peer (benches/billed/, see
## bench-billed). INVOCATIONS, COLD_STARTS, FOOTPRINT_INVOCATIONS, WRK_SECONDS, LOG_LINE_ROUNDS, CALLGRIND_LINES and
## the BILLED_* below change the sample sizes. The analysis written below the results (from its `<!-- analysis`
## marker line on) is kept from one run to the next.
INVOCATIONS ?= 2000
COLD_STARTS ?= 50
FOOTPRINT_INVOCATIONS ?= 10000
WRK_SECONDS ?= 5
LOG_LINE_ROUNDS ?= 101
CALLGRIND_LINES ?= 5000
bench: build tools bench-tools bench-peers
	cargo build --release --locked -p apigw-local --example null_function
	INVOCATIONS=$(INVOCATIONS) COLD_STARTS=$(COLD_STARTS) FOOTPRINT_INVOCATIONS=$(FOOTPRINT_INVOCATIONS) \
		BOOTSTRAP=$(CURDIR)/target/release/bootstrap NULL_FUNCTION=$(CURDIR)/target/release/examples/null_function \
		PEER_PYTHON=$(CURDIR)/$(VENV)/bin/python \
		cargo bench --locked -p apigw-local --bench invocation > BENCHMARKS.md.new
	INVOCATIONS=$(INVOCATIONS) WRK_SECONDS=$(WRK_SECONDS) APIGW_LOCAL=$(CURDIR)/target/release/apigw-local \
		BOOTSTRAP=$(CURDIR)/target/release/bootstrap CARGO_LAMBDA=$(CURDIR)/$(VENV)/bin/cargo-lambda \
		cargo bench --locked -p apigw-local --bench end_to_end >> BENCHMARKS.md.new
	LOG_LINE_ROUNDS=$(LOG_LINE_ROUNDS) CALLGRIND_LINES=$(CALLGRIND_LINES) \
		cargo bench --locked -p lambda-otel --bench log_line >> BENCHMARKS.md.new
	$(BILLED_ENV) cargo bench --locked -p apigw-local --bench billed >> BENCHMARKS.md.new
	if [ -f BENCHMARKS.md ]; then sed -n '/^<!-- analysis/,$$p' BENCHMARKS.md >> BENCHMARKS.md.new; fi
	mv BENCHMARKS.md.new BENCHMARKS.md

## The billed-time section alone, spliced into BENCHMARKS.md in place of the last one (scripts/splice-billed.sh), the
## rest of the file kept: about 4 minutes with the defaults. Each function process runs under a cgroup v1 CPU quota of
## 100,000 µs × MB / 1,769 per 100,000 µs, as Lambda gives CPU in proportion to memory; it needs root and the cpu and
## cpuacct controllers, and stops with an error without them. BILLED_SECONDS measured per row and share (by time:
## the quota is granted per period), BILLED_COLD_STARTS per function and share, BILLED_CALLGRIND invocations counted
## by callgrind (0: none), BILLED_SHARES (MB) and BILLED_ROWS (off,on,on-every-invocation,xray-emf,runtime-layer,otel-lite,python) choose what
## runs. To compare telemetry on with off at 128 MB alone in about 15 s, without touching BENCHMARKS.md:
##   BILLED_SHARES=128 BILLED_ROWS=off,on BILLED_COLD_STARTS=5 BILLED_CALLGRIND=0 cargo bench -p apigw-local --bench billed
## (after `make build`; the peers only when their rows are asked for: `make bench-peers`.)
BILLED_SECONDS ?= 4
BILLED_COLD_STARTS ?= 20
BILLED_CALLGRIND ?= 200
BILLED_SHARES ?= 128,512,1769
BILLED_ROWS ?= off,on,on-every-invocation,xray-emf,runtime-layer,otel-lite,python
BILLED_ENV = BILLED_SECONDS=$(BILLED_SECONDS) BILLED_COLD_STARTS=$(BILLED_COLD_STARTS) \
	BILLED_CALLGRIND=$(BILLED_CALLGRIND) BILLED_SHARES=$(BILLED_SHARES) BILLED_ROWS=$(BILLED_ROWS) \
	BOOTSTRAP=$(CURDIR)/target/release/bootstrap PEER_PYTHON=$(CURDIR)/$(VENV)/bin/python \
	PEER_RUNTIME_LAYER=$(CURDIR)/target/peers/release/peer-runtime-layer \
	PEER_OTEL_LITE=$(CURDIR)/target/peers/release/peer-otel-lite
bench-billed: build bench-peers $(VENV)/.awslambdaric-$(AWSLAMBDARIC_VERSION)
	@command -v valgrind >/dev/null 2>&1 || apt-get install -y -qq valgrind || { echo "the bench needs valgrind: apt-get install valgrind" >&2; exit 1; }
	$(BILLED_ENV) cargo bench --locked -p apigw-local --bench billed > BENCHMARKS.billed.new
	scripts/splice-billed.sh BENCHMARKS.md < BENCHMARKS.billed.new
	rm BENCHMARKS.billed.new

## The billed-time section's Rust peers (apigw-local/benches/peer/: a Cargo workspace and lock file of their own),
## built with bootstrap's release profile.
bench-peers:
	cargo build --release --locked --manifest-path apigw-local/benches/peer/Cargo.toml --target-dir target/peers

## Fuzz every target of fuzz/ (cargo-fuzz, nightly) for FUZZ_SECONDS each; fuzz-smoke is CI's short run.
FUZZ_SECONDS ?= 600
fuzz:
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke:
	scripts/fuzz.sh 20

clean:
	cargo clean
	rm -rf .tools
