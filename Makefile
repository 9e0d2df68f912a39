# Digit Studio: `make run` starts the app, `make test` runs every test, `make test-fast` the quick ones.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PORT ?= 8501
# Tests run in parallel (pytest-xdist), one process more than the cores (browser tests spend much of their
# time waiting), at most 5; each test file whole on one process, so its servers start once, and the files that
# use Ray on one process, so its cluster starts once (tests/conftest.py).
WORKERS := $(shell n=$$(nproc 2>/dev/null || echo 2); echo $$(( n + 1 < 5 ? n + 1 : 5 )))
PARALLEL ?= -n $(WORKERS) --dist loadfile

.PHONY: run test test-fast lint-imports bench chromium font-digits clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --no-compile -r requirements.txt
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null  # the bytecode pip would write, on every core
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet --no-compile -r requirements-dev.txt
	$(PY) -m compileall -q -j 0 $(VENV)/lib >/dev/null
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/streamlit run app.py --server.port $(PORT)  # the rest of its settings: .streamlit/config.toml

# Debian's Chromium for the browser tests (no browser download is possible here).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
		|| echo "chromium could not be installed; browser tests will skip outside CI"; \
	else echo "no chromium and not root; browser tests will skip outside CI"; fi

# The handwriting-font test set, data/font-digits.npz (committed: tests never need the fonts). Debian's font
# packages are installed as root, then every digit of every font is drawn on the canvas and preprocessed.
font-digits: $(VENV)/.installed
	@packages="$$(PYTHONPATH=. $(PY) data/make_font_digits.py --packages)"; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$packages >/dev/null) \
		|| echo "the font packages could not be installed"; \
	else echo "not root: install $$packages yourself"; fi
	PYTHONPATH=. $(PY) data/make_font_digits.py

test: $(VENV)/.dev-installed chromium
	$(PY) -m pytest $(PARALLEL)

# The edit loop: everything but the browser, Ray and slow tests (docs/testing.md); `make test` runs them all.
test-fast: $(VENV)/.dev-installed
	$(PY) -m pytest $(PARALLEL) -m "not browser and not ray and not slow"

# The layers (.importlinter), as tests/test_architecture.py checks them.
lint-imports: $(VENV)/.dev-installed
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.dev-installed
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) tests/artifacts .import_linter_cache
