#!/usr/bin/env bash
# Run every test: lint, unit tests, every notebook of _toc.yml re-executed and compared with its
# stored outputs (nbval), the website build with warnings as errors, every page loaded in
# headless Chromium (scripts/check_site.py; screenshots in _build/screenshots) and its
# self-test, the student edition built, and a Colab start simulated (scripts/colab_sim.py).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0

echo "== lint"
.venv/bin/ruff check src tests benchmarks scripts _ext conftest.py

echo "== unit tests"
.venv/bin/python -m pytest tests -q -p no:cacheprovider

echo "== notebooks (nbval over _toc.yml)"
toc_list=$(.venv/bin/python scripts/toc.py)  # fails on a notebook missing from _toc.yml
mapfile -t notebooks <<< "$toc_list"
.venv/bin/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
    --nbval-sanitize-with tests/sanitize.cfg --nbval-cell-timeout=600 "${notebooks[@]}"

echo "== website (jupyter-book build -W)"
mkdir -p _build
.venv/bin/python scripts/site_assets.py
.venv/bin/jupyter-book build . --all -W --keep-going > _build/jupyter-book.log 2>&1 || { cat _build/jupyter-book.log; exit 1; }
tail -n 3 _build/jupyter-book.log

echo "== website in headless Chromium"
if ! command -v chromium > /dev/null && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "installing the Debian package chromium"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium > /dev/null
fi
if command -v chromium > /dev/null; then
    .venv/bin/python scripts/check_site.py
    echo "== the browser check fails on a deliberately broken page"
    .venv/bin/python scripts/check_site.py --self-test
else
    echo "SKIPPED: Chromium is not installed (apt-get install chromium) - the pages were not loaded"
fi

echo "== student edition (the book without exercise solutions)"
.venv/bin/python scripts/student_edition.py

echo "== a Colab start, simulated (fresh environment, the chapter's own set-up cell installs dlcourse)"
.venv/bin/python scripts/colab_sim.py
