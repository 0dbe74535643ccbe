PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# pytest workers (pytest-xdist); PYTEST_WORKERS=0 runs the suite in this one process.
PYTEST_WORKERS ?= 3

.PHONY: test run lint format bench clean

$(STAMP): pyproject.toml
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check bot tests bench
	$(BIN)/ruff format --check bot tests bench
	@# mypy (CPU) runs beside the demo tests (one process, mostly waiting on the demo's timers): ~11 s less
	$(BIN)/mypy & typecheck=$$!; $(BIN)/pytest -m serial; serial=$$?; wait $$typecheck && exit $$serial
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadgroup -m "not serial"

# Options pass through: make run ARGS="--port 9000 --interval 2"
run: $(STAMP)
	$(BIN)/dis-bot demo $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check --fix bot tests bench
	$(BIN)/ruff format bot tests bench

bench: $(STAMP)
	$(BIN)/python bench/fetch.py
	$(BIN)/python bench/commands.py
	$(BIN)/python bench/watcher.py
	$(BIN)/python bench/storm.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
