# The README's two commands. Each makes its own virtual environment (.venv) and installs what
# it needs; constraints.txt pins torch to the CPU build that this kind of machine has on disk,
# so no CUDA package is ever pulled here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kpod-lite-installed

.PHONY: tiny test test-bounds

## make tiny: the end-to-end pipeline on the embedded tiny CPU preset, plain CoT beside KPOD, in runs/tiny
## (8 epochs: a quick demo, far from converged; docs/RESULTS.md measures plain CoT over 40)
tiny: $(STAMP)
	$(BIN)/kpod-lite run --preset tiny --methods plain-cot kpod --out runs/tiny

## make test: every unit and property test, every notebook under nbval, and notebook 06 again on
## the colab preset's code path (KPOD_PRESET=colab-rehearsal: every cell and assert runs, no output
## is compared; tests/test_rehearsal.py runs kpod-lite run on both rehearsal presets)
test: $(STAMP)
	$(BIN)/python -m pytest tests notebooks --nbval-lax --nbval-current-env
	KPOD_PRESET=colab-rehearsal $(BIN)/python -m pytest notebooks/06_distill_flan_t5_large.ipynb --nbval-lax --nbval-current-env

## make test-bounds: every notebook under nbval in two fresh environments, with the oldest and the
## newest versions pyproject.toml allows (about 4 minutes each after the install; not in CI)
test-bounds: $(STAMP)
	$(BIN)/python -m pip install --quiet "uv>=0.5"
	status=0; \
	$(BIN)/python benchmarks/dependency_bounds.py --bound lowest --venv $(VENV)-lowest || status=1; \
	$(BIN)/python benchmarks/dependency_bounds.py --bound highest --venv $(VENV)-highest || status=1; \
	exit $$status

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e ".[dev]"
	touch $(STAMP)
