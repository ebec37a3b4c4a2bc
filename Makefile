# Set-up and checks. `make test` installs everything into .venv and runs the suite.
PYTHON ?= python3
VENV := .venv
# Test processes in parallel (pytest-xdist); one file stays on one process.
TEST_WORKERS ?= 2
BIN := $(VENV)/bin

.PHONY: install bytecode sandbox up example test lint clean console-assets

$(BIN)/lakeworks: pyproject.toml src/lakeworks/connectors/_pgcopy.c src/lakeworks/streaming/_pgoutput.c
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $(BIN)/lakeworks

install: $(BIN)/lakeworks bytecode sandbox

# Compiled modules, as a wheel install has them: every command starts from bytecode,
# even where PYTHONDONTWRITEBYTECODE is set (it stops only the writing of new files).
bytecode: $(BIN)/lakeworks
	$(BIN)/python -m compileall -q src/lakeworks

# bubblewrap confines Python and shell nodes (docs/security.md); installed when missing.
sandbox:
	@command -v bwrap >/dev/null 2>&1 || (apt-get install -y -qq bubblewrap >/dev/null 2>&1 \
	  || (apt-get update -qq && apt-get install -y -qq bubblewrap >/dev/null 2>&1)) \
	  || echo "bubblewrap is not installed: nodes run less isolated (see docs/security.md)"

# The main job: the example workspace run once in dev, deployed to prod, then served
# (REST API + prod scheduler + worker) by one embedded process until Ctrl-C.
up: install
	test -f example-workspace/lakeworks.yml || $(BIN)/lakeworks init example-workspace --example sales
	$(BIN)/lakeworks run -w example-workspace --bizdate 20260411
	$(BIN)/lakeworks deploy example-workspace -w example-workspace -m "example workspace" || true
	$(BIN)/lakeworks up -w example-workspace

example: install
	rm -rf example-workspace
	$(BIN)/lakeworks init example-workspace --example sales
	$(BIN)/lakeworks run -w example-workspace --bizdate 20260411
	$(BIN)/lakeworks query -w example-workspace "SELECT * FROM sales_daily ORDER BY biz_date"

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports

# Byte-compiled once up front: every `lakeworks` process a test starts then loads .pyc
# files instead of compiling the sources again (PYTHONDONTWRITEBYTECODE stops that cache).
test: install lint
	$(BIN)/python -m compileall -q tests benchmarks
	$(BIN)/pytest -q -p no:cacheprovider -n $(TEST_WORKERS) --dist loadfile

# Rebuild the console's bundled scripts (editor, graph) from frontend/ with the locked
# npm packages; the result in src/lakeworks/web/static/bundle/ is committed.
console-assets:
	cd frontend && npm ci --no-audit --no-fund && npm run build

clean:
	rm -rf $(VENV) example-workspace .pytest_cache .mypy_cache .ruff_cache
