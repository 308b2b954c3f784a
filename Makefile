# planbot developer commands. `make demo` runs the bot with a real plan; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo serve test lint e2e clean

$(BIN)/planbot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/planbot  ## create .venv and install planbot with its test tools

demo: install  ## run the bot on 127.0.0.1:3978 with the Manchester 2015 plan in planbot.db, the CLI's default database
	$(BIN)/planbot demo

serve: install  ## run the bot with the configuration in the environment / .env
	$(BIN)/planbot serve

lint: install
	$(BIN)/ruff check .

test: install lint  ## lint, then every test (PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest

e2e/node_modules: e2e/package.json e2e/package-lock.json
	cd e2e && npm ci --ignore-scripts --no-audit --no-fund
	@touch $@

# Opt-in: the bot in the Microsoft 365 Agents Playground, in a network namespace with only loopback.
e2e: install e2e/node_modules  ## end-to-end tests in the Agents Playground (Node + unshare needed)
	unshare -n -- sh -c 'ip link set lo up && PLANBOT_E2E=1 $(BIN)/python -m pytest -m e2e tests/e2e -q'

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache
