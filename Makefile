# The two commands: `make serve` runs the gateway, `make test` runs the tests.
# Each bootstraps .venv (pinned by constraints.txt) when it is missing or out of date: `serve` installs
# only what serving needs (the package and its `cli` extra), `test` adds the dev tools on top.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
SERVE_STAMP := $(VENV)/.installed-serve
HOST ?= 127.0.0.1
PORT ?= 8080

SAM_VENV := .venv-sam
SAM_STAMP := $(SAM_VENV)/.installed
LITELLM_VENV := .venv-litellm
LITELLM_STAMP := $(LITELLM_VENV)/.installed
CHECKOV_VENV := .venv-checkov
CHECKOV_STAMP := $(CHECKOV_VENV)/.installed

.PHONY: serve test sam-validate checkov build build-host lambda-runtime deploy bench snapshot events clean

# `sam build` and the Lambda-shaped run need CPython 3.12 (the functions' runtime): on PATH, under pyenv, or
# given as PYTHON312=/path/to/python3.12. Empty when none is found; the targets that need it say so.
PYTHON312 ?= $(firstword $(shell python3.12 -c 'import sys; print(sys.executable)' 2>/dev/null) \
	$(wildcard $(HOME)/.pyenv/versions/3.12*/bin/python3.12 /usr/local/bin/python3.12 /usr/bin/python3.12))
NEED_PYTHON312 = @test -n "$(PYTHON312)" || { echo "Python 3.12 not found: sam build and the Lambda-shaped run need CPython 3.12 (the functions' runtime). Install it (pyenv install 3.12, or your OS's python3.12) or pass PYTHON312=/path/to/python3.12."; exit 1; }
SAM := SAM_CLI_TELEMETRY=0 PATH="$(dir $(PYTHON312)):$$PATH" $(SAM_VENV)/bin/sam
BUILD_DIR := .aws-sam/build
HOST_BUILD_DIR := .aws-sam/build-host
HOST_ARCH := $(shell uname -m)
# What stands in for Lambda's /var/lang (a bare 3.12 interpreter) and /var/runtime (awslambdaric) in tests.
LAMBDA_RUNTIME := .venv-lambda
LAMBDA_STAMP := $(LAMBDA_RUNTIME)/.installed
STACK_ENV ?= default

$(SERVE_STAMP): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[cli]'
	@touch $(SERVE_STAMP)

$(STAMP): $(SERVE_STAMP)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e '.[dev]'
	@touch $(STAMP)

# aws-sam-cli pins boto3/click/pydantic versions of its own, so it lives in its own venv.
$(SAM_STAMP): constraints-sam.txt
	@test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(SAM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-sam.txt aws-sam-cli
	@touch $(SAM_STAMP)

# checkov pins dozens of packages of its own: its own venv, every one of them pinned by constraints-checkov.txt
# (`pip freeze` of that venv).
$(CHECKOV_STAMP): constraints-checkov.txt
	@test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-checkov.txt checkov
	@touch $(CHECKOV_STAMP)

# LiteLLM's proxy, measured beside Routeway by `make bench` only, pins its own fastapi/pydantic/httpx: its own venv.
$(LITELLM_STAMP): constraints-litellm.txt
	@test -x $(LITELLM_VENV)/bin/python || $(PYTHON) -m venv $(LITELLM_VENV)
	$(LITELLM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check pip==25.3
	$(LITELLM_VENV)/bin/python -m pip install --quiet --disable-pip-version-check -c constraints-litellm.txt 'litellm[proxy]'
	@touch $(LITELLM_STAMP)

serve: $(SERVE_STAMP)
	$(BIN)/routeway serve --host $(HOST) --port $(PORT)

# The console's browser tests drive Debian's Chromium (never a Playwright browser download).
CHROMIUM := /usr/bin/chromium

# pytest in two steps: everything else on every core (pytest-xdist; --dist loadgroup, so tests that must share a
# worker can name an xdist_group), then the `heavy` tests (load, multi-process, Lambda-shaped) alone, one at a time.
test: $(STAMP) $(SAM_STAMP) $(CHECKOV_STAMP) $(CHROMIUM)
	$(BIN)/ruff check shared functions tests scripts bench
	$(BIN)/mypy
	for f in functions/*/app.py; do $(BIN)/mypy --strict $$f || exit 1; done
	$(MAKE) --no-print-directory build build-host lambda-runtime
	$(BIN)/python -m pytest -m 'not heavy' -n auto --dist loadgroup
	$(BIN)/python -m pytest -m heavy
	$(MAKE) --no-print-directory sam-validate
	$(MAKE) --no-print-directory checkov

$(CHROMIUM):
	apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends chromium

# The deployable build (the template's arm64), as `sam build` makes it: no Docker, the makefile layer build.
build: $(SAM_STAMP)
	$(NEED_PYTHON312)
	$(SAM) build --build-dir $(BUILD_DIR)

# The same template, Makefile and pins built for this machine's architecture, so the tests can run what was
# built as Lambda runs it (tests/lambda_shape). Never deployed.
build-host: $(SAM_STAMP) $(SERVE_STAMP)
	$(NEED_PYTHON312)
	@mkdir -p .aws-sam
	$(BIN)/python -m tests.lambda_shape.host_template $(HOST_ARCH) > .aws-sam/template-host.yaml
	LAYER_ARCH=$(HOST_ARCH) $(SAM) build --template-file .aws-sam/template-host.yaml --build-dir $(HOST_BUILD_DIR) --no-cached

$(LAMBDA_STAMP): constraints-lambda.txt
	$(NEED_PYTHON312)
	rm -rf $(LAMBDA_RUNTIME)
	$(PYTHON312) -m venv --without-pip $(LAMBDA_RUNTIME)/lang
	$(PYTHON312) -m pip install --quiet --disable-pip-version-check --no-compile --only-binary=:all: \
		--target $(LAMBDA_RUNTIME)/runtime -r constraints-lambda.txt
	@touch $(LAMBDA_STAMP)

lambda-runtime: $(LAMBDA_STAMP)

# A first deployment, non-guided, from samconfig.toml (STACK_ENV=prod for the second stack). SAM asks to
# confirm the change set; nothing else. See README "Deploy to AWS".
deploy: build
	$(SAM) deploy --config-env $(STACK_ENV)

sam-validate: $(SAM_STAMP)
	SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam validate --lint --region us-east-1

# Fails on any failed check; each skip is in its resource's Metadata with the reason. --skip-download: offline,
# no guidelines fetched from Prisma Cloud.
checkov: $(CHECKOV_STAMP)
	$(CHECKOV_VENV)/bin/checkov -f template.yaml --framework cloudformation --compact --quiet --skip-download

# Without LiteLLM's venv the bench still runs, and its report says LiteLLM was not measured.
bench: $(STAMP)
	@$(MAKE) --no-print-directory $(LITELLM_STAMP) || echo "bench: $(LITELLM_VENV) could not be installed; LiteLLM will not be measured"
	PYTHONPATH=shared:. $(BIN)/python -m bench.run --litellm $(if $(QUICK),--quick,)

snapshot: $(STAMP)
	$(BIN)/python scripts/build_defaults.py
	$(BIN)/python scripts/build_bundled_snapshot.py

events: $(STAMP)
	$(BIN)/python scripts/make_events.py

clean:
	rm -rf $(VENV) $(SAM_VENV) $(LITELLM_VENV) $(CHECKOV_VENV) $(LAMBDA_RUNTIME) .aws-sam .pytest_cache .mypy_cache .ruff_cache
