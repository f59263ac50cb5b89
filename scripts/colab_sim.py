"""Run chapters as Colab would, as far as this machine allows.

    .venv/bin/python scripts/colab_sim.py [book/convolution.ipynb ...]

Colab starts a kernel with torch, torchvision and the scientific stack preinstalled, and
without ``dlcourse``. This script builds such an environment, a fresh virtual environment in
``_build/colab-sim/venv`` with only what Colab ships among our dependencies (torch,
torchvision, numpy, scipy, matplotlib, scikit-learn, tqdm, pillow, ipykernel), then runs each
chapter top to bottom in that kernel with ``google.colab`` imported at start-up, as on Colab.
So the chapter's own set-up cell does the install. The only change to the chapter is the
package source: the set-up cell's repository URL is replaced by this checkout (``file://``),
so that the code under test is the local one.

It fails if ``dlcourse`` is importable before the set-up cell runs, if the set-up cell does not
install it, or if any cell fails. What it cannot simulate: Colab's GPU, its exact package
versions, and torchvision's download of Fashion-MNIST (no internet here: the data comes from
the Debian package, as everywhere on our machines).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
SIM = ROOT / "_build" / "colab-sim"
VENV = SIM / "venv"
PYTHON = VENV / "bin" / "python"
#: What Colab preinstalls among dlcourse's dependencies (versions as pinned in requirements.txt).
PREINSTALLED = (
    "torch",
    "torchvision",
    "numpy",
    "scipy",
    "matplotlib",
    "scikit-learn",
    "tqdm",
    "pillow",
    "ipykernel",
)
REPO_URL = "git+https://github.com/dlcourse/dlcourse"
#: A short chapter, and one that needs the dependencies Colab lacks (timm, captum, the weights).
DEFAULT_CHAPTERS = ("book/convolution.ipynb", "book/attribution.ipynb")


def pins() -> list[str]:
    """``name==version`` from requirements.txt for each of :data:`PREINSTALLED`."""
    found = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        name, _, version = line.strip().partition("==")
        if name.lower() in PREINSTALLED and version:
            found[name.lower()] = f"{name}=={version}"
    missing = set(PREINSTALLED) - set(found)
    if missing:
        sys.exit(f"colab_sim: requirements.txt pins none of {sorted(missing)}")
    return [found[name] for name in PREINSTALLED]


def make_venv() -> None:
    """A fresh environment with Colab's preinstalled packages and no dlcourse."""
    stamp = SIM / "venv.stamp"
    want = json.dumps(pins())
    if PYTHON.is_file() and stamp.is_file() and stamp.read_text() == want:
        subprocess.run([PYTHON, "-m", "pip", "uninstall", "-q", "-y", "dlcourse"], check=False)
    else:
        print("colab_sim: creating the environment (torch takes a few minutes)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", VENV], check=True)
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
        subprocess.run([PYTHON, "-m", "pip", "install", "-q", *pins()], check=True)
        stamp.write_text(want)
    probe = subprocess.run([PYTHON, "-c", "import dlcourse"], capture_output=True)
    if probe.returncode == 0:
        sys.exit("colab_sim: dlcourse is importable before the set-up cell; not a fresh start")


def make_kernel() -> dict[str, str]:
    """A kernelspec for the environment, and an IPython profile that imports google.colab
    at start-up. Returns the environment variables that make Jupyter find them."""
    kernel_dir = SIM / "jupyter" / "kernels" / "colab-sim"
    kernel_dir.mkdir(parents=True, exist_ok=True)
    spec = {
        "argv": [str(PYTHON), "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "Colab (simulated)",
        "language": "python",
        "env": {"IPYTHONDIR": str(SIM / "ipython")},
    }
    (kernel_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    startup = SIM / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "00-google-colab.py").write_text(
        "# Colab imports google.colab before the first cell; chapters test for it.\n"
        "import sys, types\n"
        "sys.modules.setdefault('google', types.ModuleType('google'))\n"
        "sys.modules['google.colab'] = types.ModuleType('google.colab')\n"
    )
    return {"JUPYTER_PATH": str(SIM / "jupyter")}


def colab_notebook(path: Path) -> nbformat.NotebookNode:
    """The chapter with its set-up cell installing this checkout instead of the repository."""
    nb = nbformat.read(path, as_version=4)
    setup = [c for c in nb.cells if c.cell_type == "code" and REPO_URL in c.source]
    if len(setup) != 1:
        sys.exit(f"colab_sim: {path} needs exactly one set-up cell installing {REPO_URL}")
    setup[0].source = setup[0].source.replace(REPO_URL, ROOT.as_uri())
    nb.metadata["kernelspec"] = {"name": "colab-sim", "display_name": "Colab (simulated)"}
    return nb


def run(path: Path, timeout: int) -> float:
    nb = colab_notebook(path)
    start = time.perf_counter()
    NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="colab-sim",
        resources={"metadata": {"path": str(path.parent)}},
    ).execute()
    shown = subprocess.run(
        [PYTHON, "-m", "pip", "show", "dlcourse"], capture_output=True, text=True, check=False
    )
    if shown.returncode != 0:
        sys.exit(f"colab_sim: {path}: the set-up cell did not install dlcourse")
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "chapters", nargs="*", type=Path, default=[Path(c) for c in DEFAULT_CHAPTERS]
    )
    parser.add_argument("--timeout", type=int, default=600, help="seconds per cell")
    args = parser.parse_args()
    SIM.mkdir(parents=True, exist_ok=True)
    os.environ.update(make_kernel())
    for chapter in args.chapters:
        make_venv()
        seconds = run((ROOT / chapter).resolve(), args.timeout)
        print(f"colab_sim: {chapter} ran top to bottom in {seconds:.0f} s, set-up cell included")
    return 0


if __name__ == "__main__":
    sys.exit(main())
