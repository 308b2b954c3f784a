# planbot developer commands. `make demo` runs the bot with a real plan; `make test` runs every test.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: install demo serve test lint clean

$(BIN)/planbot: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

install: $(BIN)/planbot  ## create .venv and install planbot with its test tools

demo: install  ## run the bot on 127.0.0.1:3978 with the Manchester 2015 plan in a fresh SQLite file
	$(BIN)/planbot demo

serve: install  ## run the bot with the configuration in the environment / .env
	$(BIN)/planbot serve

lint: install
	$(BIN)/ruff check .

test: install lint  ## lint, then every test (PostgreSQL too when TEST_DATABASE_URL is set)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) *.egg-info .pytest_cache .ruff_cache planbot-demo.db*
