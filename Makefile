# The one command surface: the README and CI call these targets and nothing else.
VENV ?= .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
PYTHON ?= python3


.PHONY: help install broker broker-users promtool audio-tools deploy-tools asyncapi-tools docs deploy new-consumer retire bench bench-scaling bench-reply-queues soak demo run test test-unit test-integration test-e2e lint format schemas clean

help:
	@echo "make demo   - set up, start every service, run one simulated call, stop"
	@echo "make run    - set up, start every service and a keypad in this terminal"
	@echo "make test   - set up, then unit, integration (real RabbitMQ) and e2e tests"
	@echo "make lint   - ruff, mypy (strict on contracts/ and services/) and the import layers"
	@echo "make bench  - benchmark this machine: latency at 1,000 calls, saturation vs an aio-pika baseline, the floor and FastStream (BENCH_ROUNDS=3 rounds)"
	@echo "make bench-scaling - the same plus 100 / 1,000 / 5,000 calls"
	@echo "make bench-reply-queues - the edge's reply-queue designs at 50 and 500 call starts, a broker restart, a 3-node cluster"
	@echo "make soak   - SOAK_MINUTES (30) at half the measured saturation: RSS of every process over time, p99 per 5 min, 0 lost"
	@echo "make broker-users - one broker user per role (least privilege) on the local broker"
	@echo "make schemas - regenerate contracts/schemas/*.json and contracts/asyncapi.json from contracts/"
	@echo "make docs   - render contracts/asyncapi.json to a browsable page: var/docs/asyncapi/index.html"
	@echo "make deploy OVERLAY=dev|prod - kubectl apply -k the overlay to the current context"
	@echo "make new-consumer NAME=billing KEYS=3 - scaffold a consumer service (quote * and #)"
	@echo "make retire NAME=billing - a stopped service for good: its keys go to the menu"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# The broker, and on it the queue expiry policy (DTMF_QUEUE_EXPIRES_MS; 0: none).
broker:
	@scripts/ensure-broker.sh
	@VENV=$(VENV) PYTHON=$(PYTHON) scripts/ensure-queue-expiry.sh

# A broker user per role, least privilege (tools/broker_access), on the local broker; each
# role's AMQP URL goes to var/broker-users.env. Run again to rotate the passwords. First the
# shared topology, which the roles may use but not declare, as the administrator (AMQP_URL).
broker-users: install broker
	$(PY) -m tools.broker_access topology
	$(PY) -m tools.broker_access dev-users

promtool:
	@deploy/monitoring/ensure-promtool.sh

# sox, multimon-ng and espeak-ng: outside evidence for the in-band DTMF detector's tests
# (tests/unit/test_inband_detector.py); apt-get installs them when run as root.
audio-tools:
	@scripts/ensure-audio-tools.sh

deploy-tools: install
	@VENV=$(VENV) PYTHON=$(PYTHON) deploy/ensure-tools.sh

# Node.js tools pinned in tools/asyncapi/package-lock.json (npm ci, once): the AsyncAPI parser
# that tests/unit/test_asyncapi.py runs on contracts/asyncapi.json, and the renderer of `make docs`.
asyncapi-tools:
	@tools/asyncapi/ensure.sh

OVERLAY ?= dev
# Apply the dev or prod overlay to kubectl's current context.
deploy:
	@case "$(OVERLAY)" in dev|prod) ;; *) echo "OVERLAY must be dev or prod, not '$(OVERLAY)'" >&2; exit 2 ;; esac
	@echo "applying deploy/k8s/overlays/$(OVERLAY) to context $$(kubectl config current-context)"
	kubectl apply -k deploy/k8s/overlays/$(OVERLAY)

demo: install broker
	$(BIN)/dtmf-bus demo

run: install broker
	$(BIN)/dtmf-bus up

test: install broker promtool audio-tools deploy-tools asyncapi-tools
	$(PY) -m pytest tests

test-unit: install promtool audio-tools deploy-tools asyncapi-tools
	$(PY) -m pytest tests/unit

test-integration: install broker
	$(PY) -m pytest tests/integration

test-e2e: install broker
	$(PY) -m pytest tests/e2e

# Issue 18's comparisons measured in rounds, interleaved: one run's ratio is one sample.
BENCH_ROUNDS ?= 3
bench: install broker
	$(PY) -m bench --rounds $(BENCH_ROUNDS) $(BENCH_ARGS)

bench-scaling: install broker
	$(PY) -m bench --scaling $(BENCH_ARGS)

# Rounds on a private node of their own, so its CPU and memory are theirs alone.
bench-reply-queues: install broker
	$(PY) -m bench.replyqueues --broker private $(BENCH_ARGS)

SOAK_MINUTES ?= 30
# Not in `make test`: it takes SOAK_MINUTES plus about a minute.
soak: install broker
	$(PY) -m bench --soak $(SOAK_MINUTES) $(BENCH_ARGS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

new-consumer: install
	@test -n "$(NAME)" -a -n "$(KEYS)" || { echo "usage: make new-consumer NAME=billing KEYS=3 (quote * and #: KEYS='*,#')" >&2; exit 2; }
	$(BIN)/dtmf-bus new-consumer --name '$(NAME)' --keys '$(KEYS)'

retire: install
	@test -n "$(NAME)" || { echo "usage: make retire NAME=billing (stop the service first)" >&2; exit 2; }
	$(BIN)/dtmf-bus retire '$(NAME)'

schemas: install
	$(BIN)/dtmf-bus schemas

DOCS_DIR ?= var/docs/asyncapi
# The committed document as an HTML page (not committed); open $(DOCS_DIR)/index.html.
docs: asyncapi-tools
	node tools/asyncapi/render.mjs contracts/asyncapi.json $(DOCS_DIR)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache tools/asyncapi/node_modules
