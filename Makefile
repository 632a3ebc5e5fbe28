# One source of truth for how to run, test, lint and benchmark traject (README and .ci/run use it).
PYTHON ?= python3.11
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 8000

.PHONY: install run demo token test test-fast lint fmt unit kafka clean

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## run: the service on the embedded default (SQLite under ./var), at http://127.0.0.1:$(PORT)
run: install
	PORT=$(PORT) $(BIN)/traject serve

## demo: load a synthetic caseload (3 teams, 600 journeys, two years) into the embedded store
demo: install
	$(BIN)/traject demo

## test: lint, types, import contracts, the fast tier, then the integration tier on SQLite, a real
## PostgreSQL and Kafka
test: install
	scripts/test

## test-fast: the fast tier alone (domain, codec, golden fixtures, in-memory services; no servers)
test-fast: install
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not integration"

## kafka: a local Kafka broker under var/kafka for `traject worker`; prints its address
## (stop it with infra/kafka/kafka.sh stop var/kafka)
kafka:
	@infra/kafka/kafka.sh start var/kafka

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis

## bench: the benchmark suite (docs/performance.md) on its own throwaway PostgreSQL, and a Kafka broker
## for K1 (baselines + project rows, 1M-event stores for P1/S1; ~8 min); writes bench/results/latest.json,
## latest.md and throughput.png. bench-quick: the same rows, smaller sizes, in about a minute.
.PHONY: bench bench-quick
$(BIN)/.bench-installed: bench/requirements.txt $(BIN)/.installed
	$(BIN)/python -m pip install -q -c constraints.txt -r bench/requirements.txt
	touch $@

bench: install $(BIN)/.bench-installed
	$(BIN)/python -m bench

bench-quick: install $(BIN)/.bench-installed
	$(BIN)/python -m bench --quick

## reliability: the reliability suite (docs/reliability.md) on its own throwaway PostgreSQL and Kafka:
## each recipe injects a fault (SIGKILL, a database crash, a stopped broker, ...) and checks what must hold
## (~15 min); writes reliability/results/latest.json and latest.md. reliability-quick: the subset `make test`
## runs, in a couple of minutes.
.PHONY: reliability reliability-quick
reliability: install
	scripts/reliability

reliability-quick: install
	scripts/reliability --quick
