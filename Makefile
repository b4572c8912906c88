# The two quick-start commands: `make run` and `make test`. Each creates .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp

.PHONY: run test lint bench clean

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,h5py,plot,scipy]'
	touch $(STAMP)

# --overwrite: the quick start's directory is scratch, so `make run` can be run again (gaussea run itself
# refuses to replace a finished or interrupted run without --overwrite or --resume).
run: $(STAMP)
	$(VENV)/bin/gaussea run --out runs/quickstart --overwrite

test: $(STAMP)
	$(PY) -m ruff check src tests bench
	$(PY) -m pytest -q

clean:
	rm -rf $(VENV) runs .pytest_cache
