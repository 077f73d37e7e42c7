# The two commands a newcomer needs: `make demo` and `make test`. Everything they use is installed
# here, into .venv/ (Python tools, pinned in requirements-dev.txt) and target/ (Rust).

SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
export RETENTION_CONFORMANCE_DIR ?= $(abspath ../shared/conformance)

FUNCTION ?= order-webhook
EVENT ?= events/shopify-orders-create.json

CHROMEDRIVER := /usr/bin/chromedriver

.PHONY: help venv browser build deploy test demo local invoke bench init-time fmt lint clean

help:
	@echo "make demo    run the engine end to end on local AWS (moto)"
	@echo "make test    every test (unit, conformance, integration against moto)"
	@echo "make local   local AWS + cargo lambda watch, to curl the functions"
	@echo "make invoke  FUNCTION=order-webhook EVENT=events/…  (needs make local running)"
	@echo "make bench   criterion benchmarks (figures go to BENCHMARKS.md)"

$(STAMP): requirements-dev.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(STAMP)

# Headless Chromium for the tests that open pages and emails as a person's browser does (Debian's
# chromium and chromium-driver; tests/src/browser.rs). Installed only when missing.
browser: $(CHROMEDRIVER)
$(CHROMEDRIVER):
	@echo "installing Debian's chromium and chromium-driver for the browser tests"
	$(if $(filter 0,$(shell id -u)),,sudo) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(if $(filter 0,$(shell id -u)),,sudo) apt-get install -y -qq --no-install-recommends chromium chromium-driver

# Release zips for Lambda (arm64); see scripts/build.sh and infra/.
build: $(STAMP)
	bash scripts/build.sh

deploy: build
	bash scripts/deploy.sh

test: $(STAMP) browser
	$(VENV)/bin/cfn-lint infra/template.yaml
	cargo test --workspace --all-targets --no-fail-fast
	cargo test --workspace --doc

demo: $(STAMP)
	cargo build --bin retention --bin order-webhook --bin churn-scan --bin customer-pages --bin email-events
	bash scripts/demo.sh

local: $(STAMP)
	cargo build --bin retention
	bash scripts/local.sh

invoke: $(STAMP)
	cargo lambda invoke $(FUNCTION) --invoke-address 127.0.0.1 --invoke-port 9000 --data-file $(EVENT)

bench: $(STAMP)
	cargo bench -p retention-dynamodb --bench adapter
	cargo bench -p retention-core --bench coupons
	bash bench/run_churn_bench.sh
	bash bench/bulk_coupons.sh
	cargo bench -p retention-email --bench compose
	# The send rate is the pace against moto on the real clock, not CPU: the dev profile will do (a
	# release build of the tests crate links every SDK with LTO, for minutes).
	cargo test -p retention-tests --bench send_rate -- --bench

# Init time of every function against a hello-world lambda_runtime function (BENCHMARKS.md).
init-time: $(STAMP)
	bash bench/init-time/run.sh

fmt:
	cargo fmt --all

lint:
	cargo fmt --all --check
	cargo clippy --workspace --all-targets -- -D warnings

clean:
	cargo clean
	rm -rf $(VENV)
