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

# The pinned requirements are installed with uv (itself pinned), which unpacks wheels several times faster than pip
# (docs/testing.md); pip installs them if uv cannot. Bytecode is compiled afterwards on every core, but not for the
# packages' own test folders, which nothing imports.
UV_VERSION := 0.13.9
define install
	($(PY) -m pip install --quiet uv==$(UV_VERSION) && $(VENV)/bin/uv pip install --quiet --python $(PY) -r $(1)) \
		|| $(PY) -m pip install --quiet --no-compile -r $(1)
	$(PY) -m compileall -q -j 0 -x '/tests?/' $(VENV)/lib >/dev/null
endef

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(call install,requirements.txt)
	touch $@

$(VENV)/.dev-installed: $(VENV)/.installed requirements-dev.txt
	$(call install,requirements-dev.txt)
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

# The project's own bytecode, once: the suite starts some 60 Python processes (test processes, servers, workers,
# the command line), and where PYTHONDONTWRITEBYTECODE is set each would otherwise compile the modules it imports.
COMPILE_PROJECT = $(PY) -m compileall -q -j 0 app.py core pages tests benchmarks >/dev/null

test: $(VENV)/.dev-installed chromium
	$(COMPILE_PROJECT)
	$(PY) -m pytest $(PARALLEL)

# The edit loop: everything but the browser, Ray and slow tests (docs/testing.md); `make test` runs them all.
test-fast: $(VENV)/.dev-installed
	$(COMPILE_PROJECT)
	$(PY) -m pytest $(PARALLEL) -m "not browser and not ray and not slow"

# The layers (.importlinter), as tests/test_architecture.py checks them.
lint-imports: $(VENV)/.dev-installed
	PYTHONPATH=. $(VENV)/bin/lint-imports --no-cache

bench: $(VENV)/.dev-installed
	$(PY) -m benchmarks

clean:
	rm -rf $(VENV) tests/artifacts .import_linter_cache
