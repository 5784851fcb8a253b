# CS330 lecture 3 notebooks. The README's two set-up commands are `make lab` and `make test`;
# both create .venv and install everything on first use, and are quick to re-run.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PY := $(BIN)/python
# Only installed when the venv has no torch at all; an existing torch is never upgraded.
TORCH_PIN ?= torch==2.13.0
STAMP := $(VENV)/.lecture-installed
LINT_DIRS := $(wildcard lecture_utils tests notebooks benchmarks scripts)
# A relative $OMNIGLOT_DIR / $LECTURE_DATA_DIR means "relative to where make was started"; the
# kernels run in notebooks/, so hand them absolute paths.
ifneq ($(strip $(OMNIGLOT_DIR)),)
export OMNIGLOT_DIR := $(abspath $(OMNIGLOT_DIR))
endif
ifneq ($(strip $(LECTURE_DATA_DIR)),)
export LECTURE_DATA_DIR := $(abspath $(LECTURE_DATA_DIR))
endif
# `make run INPLACE=1` == `make outputs`; NOTEBOOKS=... restricts the run to some notebooks.
INPLACE ?=
NOTEBOOKS ?=

.PHONY: lab lab-student test run outputs lint mutate mutate-all install clean-venv slides student bench

# JupyterLab on the repository root, so notebooks/ and student/ are both reachable; it opens on the
# start-here notebook (lab) or on its student copy (lab-student, which writes student/ first).
LAB := $(BIN)/jupyter lab --ServerApp.root_dir=. $(if $(filter 0,$(shell id -u)),--allow-root)

lab: $(STAMP)
	$(LAB) --LabApp.default_url=/lab/tree/notebooks/00_start_here.ipynb

lab-student: student
	$(LAB) --LabApp.default_url=/lab/tree/student/00_start_here.ipynb

test: $(STAMP)
	LECTURE_FAST_MODE=$${LECTURE_FAST_MODE:-1} LECTURE_DEVICE=$${LECTURE_DEVICE:-cpu} \
		$(PY) -m pytest $(PYTEST_ARGS)

run: $(STAMP)
	$(PY) scripts/run_notebooks.py $(if $(INPLACE),--inplace) $(NOTEBOOKS)

# Regenerate the stored outputs: a full-mode, top-to-bottom run written back into each notebook.
outputs: $(STAMP)
	LECTURE_FAST_MODE=0 $(PY) scripts/run_notebooks.py --inplace $(NOTEBOOKS)

lint: $(STAMP)
	$(BIN)/ruff check $(LINT_DIRS)
	$(BIN)/ruff format --check $(filter-out notebooks,$(LINT_DIRS))

# Static reveal.js decks (slides/*.slides.html) that work offline: reveal.js comes from
# slides/vendor/, never a CDN. NOTEBOOKS=... restricts it to some notebooks. The decks are the
# students' (exercise stubs, no solutions); SOLUTIONS=1 builds the instructor's decks.
SOLUTIONS ?=
slides: $(STAMP)
	$(PY) scripts/slides.py $(if $(SOLUTIONS),--solutions) $(NOTEBOOKS)

# Student versions (student/, git-ignored): solutions replaced by stubs, exercise outputs cleared.
student: $(STAMP)
	$(PY) scripts/make_student.py $(NOTEBOOKS)

# The black-box recipe at full budget (~12 min on 2 cores): prints its figures and stores them in
# benchmarks/results/black_box.json, which notebook 04 shows. BENCH_ARGS=... passes options.
bench: $(STAMP)
	$(PY) benchmarks/bench_black_box.py $(BENCH_ARGS)

# Plant known bugs one at a time in a temporary copy and check that the tests catch each one.
mutate: $(STAMP)
	$(PY) scripts/mutate.py $(MUTATE_ARGS)

# Systematic mutation testing: mutmut (installed here on first use, not a test dependency) over
# the generic modules, each against its own unit tests, one worker; prints a per-module table of
# killed, survived, equivalent and score (benchmarks/mutation.md). MUTATE_ALL_ARGS=... passes
# options, e.g. MUTATE_ALL_ARGS="--only core/stats.py --show".
MUTMUT_PIN ?= mutmut==3.8.1
mutate-all: $(STAMP)
	@$(PY) -m pip show -q mutmut >/dev/null 2>&1 || $(PY) -m pip install "$(MUTMUT_PIN)"
	nice -n 15 $(PY) scripts/mutate_all.py $(MUTATE_ALL_ARGS)

install: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# Re-installs only when pyproject.toml changed (or the venv is new).
$(STAMP): pyproject.toml | $(PY)
	@$(PY) -c "import torch" 2>/dev/null \
		&& echo "torch already installed: $$($(PY) -c 'import torch; print(torch.__version__)') (kept as is)" \
		|| $(PY) -m pip install "$(TORCH_PIN)"
	$(PY) -m pip install -e '.[test]'
	@touch $@

clean-venv:
	rm -rf $(VENV)
