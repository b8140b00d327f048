# hello-lambda-otel: `make run` serves the tutorial on http://localhost:8080/test/helloworld, `make test` checks everything.

VENV    := .tools/venv
LISTEN  ?= 127.0.0.1:8080
CONCURRENCY ?= 1
NEXTEST_PROFILE := $(if $(CI),ci,default)

.PHONY: run build test lint tools clean

## Build the release binaries and serve the stage with the function as local processes (no Docker).
run: build
	target/release/apigw-local --listen $(LISTEN) --function target/release/bootstrap --concurrency $(CONCURRENCY)

build:
	cargo build --release --workspace --locked

## Everything this machine can check: formatting, lints, unit, end-to-end and peer tests.
test: tools lint
	cargo build --workspace --locked
	cargo nextest run --workspace --locked --profile $(NEXTEST_PROFILE)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

## Test tools that are not Rust crates, in a venv of their own: cargo-lambda's Runtime API is a peer to test against.
tools: $(VENV)/bin/cargo-lambda

$(VENV)/bin/cargo-lambda:
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check cargo-lambda==1.9.2

clean:
	cargo clean
	rm -rf .tools
