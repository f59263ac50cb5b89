#!/usr/bin/env bash
# Fresh-machine set-up, shared by the README's commands: a virtual environment in .venv with the
# pinned requirements and dlcourse (editable), then the Fashion-MNIST data.
# Idempotent: a second run reinstalls nothing unless requirements.txt or pyproject.toml changed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    echo "setup: creating .venv with $($PYTHON --version)"
    "$PYTHON" -m venv .venv
fi

stamp=.venv/.dlcourse-installed
want=$(cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    echo "setup: installing requirements.txt (torch is large: a few minutes the first time)"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -e .
    echo "$want" > "$stamp"
fi

# Fashion-MNIST: the Debian package when we may install it, else torchvision's download
# (dlcourse.data looks in /usr/share/datasets/fashion-mnist, then in its cache).
system_copy=/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz
if [ ! -f "$system_copy" ] && [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    echo "setup: installing the Debian package dataset-fashion-mnist"
    apt-get update -qq || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist > /dev/null \
        || echo "setup: apt-get could not install dataset-fashion-mnist; trying torchvision's download"
fi
.venv/bin/python - <<'PY'
from dlcourse.data import load_fashion_mnist

for split in ("train", "test"):
    x, y = load_fashion_mnist(split, download=True)
    print(f"setup: Fashion-MNIST {split}: {tuple(x.shape)} images, hashes verified")
PY
