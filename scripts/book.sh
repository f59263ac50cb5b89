#!/usr/bin/env bash
# Build the website into _build/html from the outputs stored in the notebooks.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
.venv/bin/python scripts/site_assets.py
.venv/bin/jupyter-book build . -W --keep-going
echo "book: open _build/html/index.html"
