#!/usr/bin/env bash
# Run every test: lint, unit tests, every notebook of _toc.yml re-executed and compared with its
# stored outputs (nbval), then the website build with warnings as errors.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export PYTHONHASHSEED=0

echo "== lint"
.venv/bin/ruff check src tests benchmarks scripts

echo "== unit tests"
.venv/bin/python -m pytest tests -q

echo "== notebooks (nbval over _toc.yml)"
mapfile -t notebooks < <(.venv/bin/python scripts/toc.py)
.venv/bin/python -m pytest -q -p no:cacheprovider --nbval --nbval-current-env \
    --nbval-sanitize-with tests/sanitize.cfg --nbval-cell-timeout=600 "${notebooks[@]}"

echo "== website (jupyter-book build -W)"
.venv/bin/jupyter-book build . -W --keep-going > _build.log 2>&1 || { cat _build.log; exit 1; }
tail -n 3 _build.log
