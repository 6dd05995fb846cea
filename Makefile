# kdcourse: `make test` (unit tests + every notebook under nbval, smoke profile + every notebook paper-dry)
#           `make run`  (`make teachers`, then every notebook in the cpu profile; regenerates figures/)
#           `make teachers` (every shared teacher of the cpu profile, resumable)
#           `make run NB=02` (one notebook)
#           `make bench` (fit() against a plain PyTorch KD loop; 04's 1 x 1-map convolutions), `make report` (REPORT.md from figures/)
#           `make student` (the students' notebooks, solutions replaced by stubs, in build/student/)
#           `make paper NB=07` (the source's own settings: a GPU's work; `make paper-dry` is its CPU rehearsal)
# Both do their own set-up: a virtual environment in .venv and the offline data mirrors.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
NB ?=
NOTEBOOKS := $(sort $(wildcard notebooks/$(NB)*.ipynb))
export PYTHONHASHSEED := 0
export MPLBACKEND := Agg
# On a busy machine OpenMP's spinning threads make torch 10-20x slower; passive waiting costs nothing when idle.
export OMP_WAIT_POLICY ?= PASSIVE

.PHONY: setup data test unit nbval student-check paper-dry paper run teachers report bench student clean-checkpoints

$(VENV)/.installed: requirements.txt requirements-test.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet -r requirements-test.txt   # the published losses the tests compare against
	$(PY) -m pip install --quiet --no-deps -e .
	touch $@

setup: $(VENV)/.installed

data: setup
	$(PY) -m kdcourse fetch-data

unit: data
	$(PY) -m pytest tests -q

nbval: data
	KDCOURSE_PROFILE=smoke $(PY) -m pytest -q --nbval-lax --nbval-current-env -p no:cacheprovider $(NOTEBOOKS)

test: unit nbval student-check paper-dry

# Every notebook's paper-profile code path on clipped sizes and epochs (kdcourse.experiments.base.clip) and
# synthetic data of the real shapes where the paper's data is missing; executed copies go to build/paper-dry/.
# A notebook's clipped checkpoints are deleted once it passes (its paper-size networks take up to 2 GB, and all
# nine together 4.6 GB, which once filled CI's disk); the shared teachers at the folder's top stay for the others.
paper-dry: data
	@rm -rf data/checkpoints/paper-dry   # a dry run starts from nothing: its clipped runs are not worth resuming
	@mkdir -p build/paper-dry
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb (paper-dry)"; \
	  start=$$(date +%s); \
	  KDCOURSE_PROFILE=paper KDCOURSE_DRY=1 KDCOURSE_OFFLINE=1 $(PY) -m papermill --cwd notebooks --no-progress-bar \
	    "$$nb" "build/paper-dry/$$(basename $$nb)" > build/paper-dry/$$(basename $$nb .ipynb).log 2>&1 \
	    || { tail -n 40 build/paper-dry/$$(basename $$nb .ipynb).log; exit 1; }; \
	  echo "   done in $$(( $$(date +%s) - start )) s"; \
	  rm -rf "data/checkpoints/paper-dry/$$(basename $$nb .ipynb)"; \
	done

# The source reports' own settings, for real (a GPU is used when present; a CPU-only machine is warned with the
# estimated time first): executed notebooks go to build/paper/, figures and tables to figures/paper/.
paper: data
	@mkdir -p build/paper
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb (paper profile)"; \
	  start=$$(date +%s); \
	  KDCOURSE_PROFILE=paper $(PY) -m papermill --cwd notebooks --log-output --no-progress-bar \
	    "$$nb" "build/paper/$$(basename $$nb)" > "build/paper/$$(basename $$nb .ipynb).log" 2>&1 \
	    || { tail -n 40 "build/paper/$$(basename $$nb .ipynb).log"; exit 1; }; \
	  echo "   done in $$(( $$(date +%s) - start )) s"; \
	done
	$(PY) -m kdcourse runs --profile paper
	$(PY) -m kdcourse report

# Every shared teacher of the cpu profile (kdcourse.experiments.TEACHERS), trained once and checkpointed under
# data/checkpoints/cpu/; resumable (an interrupted teacher continues from its last epoch), a finished one is loaded.
teachers: data
	KDCOURSE_PROFILE=cpu $(PY) -m kdcourse teachers

run: $(if $(NB),data,teachers)   # one notebook (NB=..) trains only the teachers it needs, itself
	@for nb in $(NOTEBOOKS); do \
	  echo "== $$nb (cpu profile)"; \
	  start=$$(date +%s); \
	  KDCOURSE_PROFILE=cpu $(PY) -m papermill --cwd notebooks --log-output --no-progress-bar "$$nb" "$$nb" > /dev/null || exit 1; \
	  echo "   done in $$(( $$(date +%s) - start )) s"; \
	done
	$(PY) -m kdcourse report

# The students' copies: every solution cell (tagged `solution`) replaced by a stub, every check kept.
student: setup
	$(PY) -m kdcourse student

# The students' copies executed in the smoke profile: every check must fail on its stub (and nothing else).
student-check: data
	KDCOURSE_PROFILE=smoke $(PY) -m pytest -q -p no:cacheprovider tests/check_student_stubs.py

report: setup
	$(PY) -m kdcourse report

bench: data
	$(PY) benchmarks/bench_kd.py
	$(PY) benchmarks/bench_conv.py

clean-checkpoints:
	rm -rf data/checkpoints
