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

.PHONY: install ablation report tune bench ui test test-fast lint data clean-runs help

help:
	@echo "make ablation [EXP=experiments/quick.yaml] [ARGS='--workers 2']  train a study, tracked in MLflow"
	@echo "make report   [EXP=...]                                          comparison table and verdicts"
	@echo "make ui                                                          MLflow UI on http://$(UI_HOST):$(UI_PORT)"
	@echo "make tune     [EXP=experiments/tune.yaml]                        Optuna search"
	@echo "make bench                                                       train-step benchmark"
	@echo "make test                                                        the whole test suite"
	@echo "make lint                                                        ruff on the whole repository"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
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

ui: $(STAMP)
	$(BIN)/cyclegan ui --host $(UI_HOST) --port $(UI_PORT)

test: $(STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow"

lint: $(STAMP)
	$(BIN)/ruff check .

clean-runs:
	rm -rf $(filter-out runs/README.md,$(wildcard runs/*))
