# The README's two commands. Each makes its own virtual environment (.venv) and installs what
# it needs; constraints.txt pins torch to the CPU build that this kind of machine has on disk,
# so no CUDA package is ever pulled here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.kpod-lite-installed

.PHONY: tiny table2 test test-bounds

## make tiny: the end-to-end pipeline on the embedded tiny CPU preset, plain CoT beside KPOD, in runs/tiny
## (8 epochs: a quick demo, far from converged; make table2 trains 60)
tiny: $(STAMP)
	$(BIN)/kpod-lite run --preset tiny --methods plain-cot kpod --out runs/tiny

## make table2: Table 2 in full at tiny scale, trained as the paper trains (N_e = 60, T = 30), 5 seeds x 500
## test questions, pre-registered in docs/RESULTS.md; about 6 hours on 2 idle cores, in four parts (each a
## `kpod-lite run` on the same folder: a killed part resumes, a finished one is reused)
TABLE2_SETTINGS := --seeds 5 --workers 2 --set epochs=60 --set validation_size=400 --set epoch_eval_size=400 \
	--set epoch_eval_split='"validation"' --set test_size=500 \
	--set 'ood=[{"name":"distractors","size":500,"synthetic":{"distractor_rate":1.0}},{"name":"four-steps","size":500,"synthetic":{"min_steps":4,"max_steps":4}}]'
table2: $(STAMP)
	$(BIN)/kpod-lite run --preset tiny --methods plain-cot kpod $(TABLE2_SETTINGS) --out runs/table2
	$(BIN)/kpod-lite run --preset tiny --methods w.o.-prog kpod-uniform w.o.-prog-uniform $(TABLE2_SETTINGS) --out runs/table2
	$(BIN)/kpod-lite run --preset tiny --methods w.o.-sig w.o.-sig-dif w.o.-div $(TABLE2_SETTINGS) --out runs/table2
	$(BIN)/kpod-lite run --preset tiny --methods kpod-acl kpod-spl kpod-icl $(TABLE2_SETTINGS) --out runs/table2
	@# every student is reused: this only writes runs/table2/results/ for the eleven methods together
	$(BIN)/kpod-lite run --preset tiny --methods plain-cot kpod w.o.-prog kpod-uniform w.o.-prog-uniform \
		w.o.-sig w.o.-sig-dif w.o.-div kpod-acl kpod-spl kpod-icl $(TABLE2_SETTINGS) --out runs/table2

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
