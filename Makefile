# remedy: every target does its own set-up and is safe to rerun.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# aws-sam-cli and checkov pin boto3/cfn-lint/jsonschema: each lives in its own tool venv.
SAM_VENV     := .tools/sam
CHECKOV_VENV := .tools/checkov
SAM_VERSION     := 1.170.0
CHECKOV_VERSION := 3.3.30

.PHONY: test lint typecheck unit site demo bench tools deploy-core deploy-members clean lock lock-check

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install --quiet aws-sam-cli==$(SAM_VERSION)
	touch $@

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

tools: $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

lint: $(STAMP)
	$(BIN)/ruff check src tests bench scripts
	$(BIN)/ruff format --check src tests bench scripts

typecheck: $(STAMP)
	$(BIN)/mypy

# Debian's Chromium and chromedriver for the email approval page's browser tests; installs
# only what is missing (apt-get update only when the package lists are too old to find it).
APT := $(if $(filter 0,$(shell id -u)),,sudo) env DEBIAN_FRONTEND=noninteractive apt-get
.PHONY: browser
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
	  $(APT) install -y -qq chromium chromium-driver || \
	  { $(APT) update -qq && $(APT) install -y -qq chromium chromium-driver; }

# README's screenshot of `remedy report --html`: the browser test's month of findings in a
# ledger on moto, reported as from AWS and photographed by headless Chromium.
.PHONY: docs
docs: $(STAMP) browser
	$(BIN)/pytest -q tests/test_report_browser.py -k month
	cp tests/artifacts/report-month.png docs/report.png

# The suite on every core (pytest-xdist; worksteal evens out the few long tests).
unit: $(STAMP) tools browser
	PATH="$(CURDIR)/$(SAM_VENV)/bin:$(CURDIR)/$(CHECKOV_VENV)/bin:$$PATH" $(BIN)/pytest -n auto --dist worksteal

# The documentation site (mkdocs.yml, docs/) into site/: a strict build, which fails on a
# broken link or a page missing from the nav, and on reference pages that no longer match
# the schemas, the shipped policy or the action registry (`make reference` rewrites them).
# Open site/index.html, or run `$(BIN)/mkdocs serve`.
.PHONY: reference
reference: $(STAMP)
	$(BIN)/python scripts/reference_docs.py

site: $(STAMP)
	$(BIN)/python scripts/reference_docs.py --check
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: lint typecheck lock-check site unit

demo: $(STAMP)
	$(BIN)/remedy demo

# The benchmarks behind docs/benchmarks.md (about an hour on 2 shared cores; the burst of
# 1,000 then 10,000 findings on moto is ~27 minutes of it, then ledger_views filling its
# tables and interactions).
bench: $(STAMP)
	$(BIN)/python bench/decide.py
	$(BIN)/python bench/api_calls.py
	$(BIN)/python bench/interactions.py
	$(BIN)/python bench/account_resolve.py
	$(BIN)/python bench/ledger_views.py
	$(BIN)/python bench/cold_start.py
	$(BIN)/python bench/burst.py --sizes 1000 10000 --save bench/usage-burst.json
	$(BIN)/python bench/cost.py

# ---- deployment (not run by the tests; needs AWS credentials) -------------------------------
SAM := SAM_CLI_TELEMETRY=0 $(CURDIR)/$(SAM_VENV)/bin/sam
# What Lambda runs: template.yaml's Globals (python3.13, arm64). Wheels are fetched for that
# platform, so sam build needs neither that Python nor Docker here.
LAMBDA_PYTHON   := 3.13
LAMBDA_PLATFORM := manylinux2014_aarch64
FUNCTIONS       := FindingsFunction RemediatorFunction InteractionsFunction EmailApprovalFunction SlackOutboxFunction
.PHONY: $(addprefix build-,$(FUNCTIONS))

# The Lambda's dependencies, each pinned with its hashes for Lambda's Python and platform:
# what sam build installs. After changing [project].dependencies, run `make lock`;
# `make lock-check` (sam build and make test run it) fails while the two disagree.
LOCK := requirements/lambda.txt
lock: $(STAMP)
	$(BIN)/uv pip compile pyproject.toml --quiet --generate-hashes --python-version $(LAMBDA_PYTHON) \
	  --python-platform aarch64-manylinux_2_17 --custom-compile-command "make lock" -o $(LOCK)

lock-check: $(STAMP)
	$(BIN)/python scripts/lock_check.py pyproject.toml $(LOCK)

# The policy that ships must pass its schemas and name your own accounts: the example ids
# of the shipped accounts.yaml (an aggregator above all) are refused (docs/deploy.md).
.PHONY: policy-deployable
policy-deployable: $(STAMP)
	$(BIN)/remedy policy validate --for-deploy policies

# sam build (BuildMethod: makefile, build_in_source in samconfig.toml) runs build-<LogicalId>
# with ARTIFACTS_DIR set. A policy that is not deployable fails here, before anything ships;
# so does a lock that disagrees with pyproject.toml. remedy itself is installed as its
# wheel would be (its version in its metadata, the policy folder as package data).
$(addprefix build-,$(FUNCTIONS)): policy-deployable lock-check
	$(BIN)/python -m pip install --quiet --no-compile --require-hashes --target "$(ARTIFACTS_DIR)" \
	  --platform $(LAMBDA_PLATFORM) --implementation cp --python-version $(LAMBDA_PYTHON) \
	  --only-binary=:all: -r $(LOCK)
	@# setuptools' build/ keeps files deleted from src/: start from none.
	rm -rf build
	$(BIN)/python -m pip install --quiet --no-compile --no-deps --no-build-isolation \
	  --target "$(ARTIFACTS_DIR)" .
	@# The demo and its local Slack server are dev tools (they import moto): never shipped.
	rm -rf "$(ARTIFACTS_DIR)/remedy/demo" "$(ARTIFACTS_DIR)/remedy/devtools" "$(ARTIFACTS_DIR)/bin"
	cp -R policies "$(ARTIFACTS_DIR)/policies"
	find "$(ARTIFACTS_DIR)/remedy" -name __pycache__ -type d -prune -exec rm -rf {} +
	@# Lambda cannot write .pyc into /var/task: without them every cold start compiles each
	@# module it imports, boto3's included (bench/cold_start.py). Compiled with Lambda's
	@# Python, which must be the one to write them (lambda-python).
	if $(LAMBDA_PYTHON_WORKS) 2>/dev/null; then \
	  python$(LAMBDA_PYTHON) -m compileall -q -j 0 --invalidation-mode unchecked-hash "$(ARTIFACTS_DIR)"; \
	else echo "warning: no working python$(LAMBDA_PYTHON): no .pyc shipped, slower cold starts" >&2; fi

# Succeeds when python$(LAMBDA_PYTHON) runs and is that version: the interpreter is run and
# asked, since a pyenv shim on PATH answers `command -v` for a Python it does not have.
comma := ,
LAMBDA_PYTHON_WORKS = python$(LAMBDA_PYTHON) -c \
  'import sys; sys.exit(sys.version_info[:2] != ($(subst .,$(comma),$(LAMBDA_PYTHON))))'
.PHONY: lambda-python
lambda-python:
	@$(LAMBDA_PYTHON_WORKS)

# The core account, one samconfig.toml environment each (ENV=dev, the default, or prod).
# The first deploy of an environment is guided and saves its answers (parameter_overrides)
# to samconfig.toml; every later one, and any in a pipeline, runs without a prompt.
ENV ?= dev
deploy-core: $(STAMP) policy-deployable lock-check tools
	$(BIN)/python scripts/deploy_mode.py $(ENV) >/dev/null
	$(SAM) build --config-env $(ENV)
	guided=$$($(BIN)/python scripts/deploy_mode.py $(ENV)) && \
	  $(SAM) deploy --config-env $(ENV) $$guided

# Member accounts: a SERVICE_MANAGED StackSet (run in the management account or a delegated
# administrator) for OUS and REGIONS, parameterised from the core stack's outputs.
# Example: REMEDY_EXTERNAL_ID=... make deploy-members OUS="ou-ab12-cdef3456" \
#   REGIONS="us-east-1 eu-west-1" BREAK_GLASS_ROLE=BreakGlass MEMBER_ARGS="--core-profile core"
deploy-members: $(STAMP)
	@test -n "$(OUS)" -a -n "$(REGIONS)" -a -n "$(BREAK_GLASS_ROLE)" || { \
	  echo 'usage: REMEDY_EXTERNAL_ID=... make deploy-members OUS="ou-..." REGIONS="us-east-1 ..." BREAK_GLASS_ROLE=name [MEMBER_ARGS="..."]' >&2; exit 2; }
	$(BIN)/python scripts/deploy_members.py --ous $(OUS) --regions $(REGIONS) \
	  --break-glass-role-name "$(BREAK_GLASS_ROLE)" $(MEMBER_ARGS)

clean:
	rm -rf $(VENV) .tools .aws-sam site build
