# Two entry points for a fresh machine with only python3: `make demo` and `make test`.
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install bench lint clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[test]"
	# compile the simulated device's event loop once (numba caches it on disk, ~10 s), so
	# no run or test started later pays for the compile inside its own time limit
	$(BIN)/python -c "from sim_backend.qc_device import QCDevice; \
	QCDevice(0).drive([1e-3] * 3, [0.5, 1.0, 1.0], [1e-3] * 3)"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(BIN)/labapp demo -o runs

test: $(STAMP)
	QT_QPA_PLATFORM=offscreen MPLBACKEND=Agg $(BIN)/python -m pytest -q -p no:cacheprovider

bench: $(STAMP)
	QT_QPA_PLATFORM=offscreen MPLBACKEND=Agg $(BIN)/python -m benchmarks

# ruff, then the code-shape rules (sizes, radon complexity, layers, import cycles; see
# tests/test_code_shape.py and docs/architecture.md)
lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/test_code_shape.py

clean:
	rm -rf $(VENV) runs report build *.egg-info
