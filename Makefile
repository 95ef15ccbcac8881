# Two commands do all set-up on a fresh machine: `make ablation` and `make test`.
# Both create .venv and install the package into it when needed.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
EXP    ?= experiments/quick.yaml
ARGS   ?=
UI_HOST ?= 127.0.0.1
UI_PORT ?= 5000
SYNTH  := data/synthetic/data.csv

export MPLBACKEND := Agg

.PHONY: install ablation report tune bench bench-reference ui test test-fast test-floors lint data clean-runs help

help:
	@echo "make ablation [EXP=experiments/quick.yaml] [ARGS='--workers 2']  train a study, tracked in MLflow"
	@echo "make report   [EXP=...]                                          comparison table and verdicts"
	@echo "make ui                                                          MLflow UI on http://$(UI_HOST):$(UI_PORT)"
	@echo "make tune     [EXP=experiments/tune.yaml]                        Optuna search"
	@echo "make bench                                                       train-step benchmark"
	@echo "make bench-reference [ARGS='--rounds 5']                         the train step against the reference PyTorch CycleGAN (own venv)"
	@echo "make test                                                        the whole test suite"
	@echo "make lint                                                        ruff on the whole repository"
	@echo "make test-floors                                                 fast tests on the lowest allowed versions (own venv)"

# pip compiles every installed file to bytecode on one core (about 35 s of TensorFlow's and the
# others' files); compileall does the same on every core. The bytecode is written here and not left
# to first imports, which write none where PYTHONDONTWRITEBYTECODE is set (then every process would
# compile what it imports). A file that does not compile (pip skips those silently) is named, and
# runs from source. benchmarks/PERFORMANCE.md, 2026-12-07 (night).
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	$(BIN)/python -m compileall -q -j 0 $$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))') \
	  || echo "note: the files named above were not byte-compiled; Python runs them from source"
	touch $(STAMP)

install: $(STAMP)

# The embedded default data: a synthetic photo/painting set made offline from scikit-image's photos.
$(SYNTH): | $(STAMP)
	$(BIN)/cyclegan data synth data/synthetic --size 128

data: $(SYNTH)

ablation: $(STAMP) $(SYNTH)
	$(BIN)/cyclegan ablate $(EXP) $(ARGS)

report: $(STAMP)
	$(BIN)/cyclegan report $(EXP) $(ARGS)

tune: $(STAMP) $(SYNTH)
	$(BIN)/cyclegan tune $(if $(filter experiments/quick.yaml,$(EXP)),experiments/tune.yaml,$(EXP)) $(ARGS)

# The original step (float32, six generator calls) against the tuned one, at 256x256, batch 1.
BENCH_DATA ?= $(if $(wildcard data/data.csv),data,data/synthetic)
bench: $(STAMP) $(SYNTH)
	$(BIN)/cyclegan bench --compare train.precision=float32,auto --compare train.fused_generator_calls=false,true --compare train.fused_instance_norm=false,true --data $(BENCH_DATA) $(ARGS)

# The project's step against the reference PyTorch CycleGAN's, alternating rounds in one run
# (benchmarks/reference/compare.py). PyTorch goes into its own venv: never a dependency of the package.
REF_VENV  ?= .venv-reference
REF_STAMP := $(REF_VENV)/.installed
$(REF_STAMP): benchmarks/reference/requirements.txt
	$(PYTHON) -m venv $(REF_VENV)
	$(REF_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(REF_VENV)/bin/python -m pip install --quiet -r benchmarks/reference/requirements.txt
	touch $(REF_STAMP)

bench-reference: $(STAMP) $(REF_STAMP)
	$(BIN)/python benchmarks/reference/compare.py --reference-python $(REF_VENV)/bin/python $(ARGS)

ui: $(STAMP)
	$(BIN)/cyclegan ui --host $(UI_HOST) --port $(UI_PORT)

# The tests run on TEST_WORKERS pytest-xdist processes (TEST_WORKERS= runs them in one). With two,
# each worker's TensorFlow uses one thread (tests/conftest.py): most of a test is single-threaded
# start-up, tracing and MLflow, which two workers overlap (docs/development.md "Tests and checks").
TEST_WORKERS ?= 2
XDIST := $(if $(TEST_WORKERS),-n $(TEST_WORKERS) --dist load)
# The 25 slowest tests are printed: CI's log then says where the suite's time went.
PYTEST := $(BIN)/python -m pytest $(XDIST) --durations=25

test: $(STAMP)
	$(PYTEST)

test-fast: $(STAMP)
	$(PYTEST) -m "not slow"

# The dependency floors of pyproject.toml are true minimums: install exactly the lowest allowed version of
# every direct dependency (their own dependencies resolve freely) into a separate venv and run the fast tests.
FLOORS_VENV ?= .venv-floors
FLOORS_PINS := $(FLOORS_VENV)/floors.txt
test-floors:
	$(PYTHON) -m venv $(FLOORS_VENV)
	$(FLOORS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(FLOORS_VENV)/bin/python -c "import re, tomllib; deps = tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']; \
	  print('\n'.join(re.sub(r'\s*>=\s*', '==', d) for d in deps if '>=' in d))" > $(FLOORS_PINS)
	cat $(FLOORS_PINS)
	$(FLOORS_VENV)/bin/python -m pip install --quiet -c $(FLOORS_PINS) -e '.[test]'
	$(FLOORS_VENV)/bin/python -m pip list --format=freeze | grep -i -E "^($$(sed 's/==.*//' $(FLOORS_PINS) | paste -sd'|'))=="
	$(FLOORS_VENV)/bin/python -m pytest -m "not slow" -q

lint: $(STAMP)
	$(BIN)/ruff check .

clean-runs:
	rm -rf $(filter-out runs/README.md,$(wildcard runs/*))
