# The README's two commands:
#   make book   reproduce everything on IS3+-mini and build the HTML book (_build/html/index.html)
#   make test   run the whole test suite (CI runs exactly this)
# Both set up .venv themselves (scripts/setup_env.sh) and are fast when nothing changed.

PY := .venv/bin/python
# committed notebooks that are cheap enough to re-run as they are (nbval compares nothing, it checks they run)
NBVAL_NOTEBOOKS := notebooks/00_quickstart.ipynb

.PHONY: book test setup notebooks html lock clean

book: setup notebooks html

setup:
	@bash scripts/setup_env.sh

notebooks: setup
	$(PY) -m sslsan book $(if $(FORCE),--force,)

html: setup
	.venv/bin/jupyter-book build . -W -n --keep-going
	@echo "book: open _build/html/index.html"

test: setup
	@bash scripts/ensure_chromium.sh
	$(PY) -m pytest tests
	env -u SSLSAN_SMOKE $(PY) -m pytest --nbval-lax $(NBVAL_NOTEBOOKS)

# Re-resolve the full lock from requirements.in (needs the package index).
lock:
	$(HOME)/.cache/sslsan/uvtool/bin/uv pip compile requirements.in -o requirements.txt --python-version 3.11

clean:
	rm -rf _build
