"""Fetch the JavaScript the website serves itself: MathJax.

The site must read offline (a lab without internet, a downloaded copy), so nothing is loaded
from a CDN. The files come from the npm registry's package at build time (widgets need no
JavaScript on the site: it shows their static view, see ``dlcourse.widgets.static``):

    python scripts/site_assets.py            # fills _vendor/ (served as _static/ by the site)

Each package is fetched once with ``npm pack`` into ``~/.cache/dlcourse/npm``, checked against
the SHA-256 pinned below, and only the files the pages need are unpacked. ``_vendor/`` is
replaced atomically: a run that fails leaves the previous copy intact.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "_vendor"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "dlcourse" / "npm"


@dataclass(frozen=True)
class Package:
    """An npm package: which files to keep (prefixes inside the tarball) and where they go."""

    name: str
    version: str
    sha256: str  # of the tarball ``npm pack`` writes
    keep: tuple[str, ...]  # path prefixes inside ``package/``
    dest: str  # directory under _vendor/
    strip: str = ""  # prefix removed from the kept paths

    @property
    def tarball(self) -> str:
        return f"{self.name.lstrip('@').replace('/', '-')}-{self.version}.tgz"


PACKAGES = (
    # MathJax 3, the version Sphinx's mathjax extension configures: the TeX -> CommonHTML
    # component, the TeX extensions it may autoload, its fonts and its menu.
    Package(
        "mathjax",
        "3.2.2",
        "1b9c0a1c44df864e915690558e72adb9cc5203360daefd385084ced3b6c64c09",
        ("es5/tex-chtml.js", "es5/input/tex/", "es5/output/chtml/", "es5/ui/", "es5/a11y/"),
        "mathjax",
        "es5/",
    ),
)


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(pkg: Package) -> Path:
    """The package's tarball in the cache, fetched with ``npm pack`` if missing or corrupt."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / pkg.tarball
    if path.is_file() and sha256(path) == pkg.sha256:
        return path
    if shutil.which("npm") is None:
        sys.exit("site_assets: npm is needed to fetch the site's JavaScript; install Node.js/npm")
    with tempfile.TemporaryDirectory(dir=CACHE) as tmp:
        subprocess.run(
            ["npm", "pack", f"{pkg.name}@{pkg.version}", "--silent", "--pack-destination", tmp],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        got = Path(tmp) / pkg.tarball
        digest = sha256(got)
        if digest != pkg.sha256:
            sys.exit(
                f"site_assets: {pkg.name}@{pkg.version} has SHA-256 {digest}, "
                f"expected {pkg.sha256}; refusing to use it"
            )
        os.replace(got, path)
    return path


def unpack(pkg: Package, tarball: Path, into: Path) -> int:
    """Copy the kept files of ``tarball`` into ``into/pkg.dest``; returns the number of files."""
    count = 0
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            rel = member.name.removeprefix("package/")
            if not member.isfile() or not rel.startswith(pkg.keep):
                continue
            if rel.endswith(".map"):
                continue
            # The layout below the stripped prefix is kept: MathJax loads its components and
            # fonts, and the widget bundle its fonts, relative to their own location.
            rel = rel.removeprefix(pkg.strip)
            target = into / pkg.dest / rel
            if ".." in Path(rel).parts:
                raise ValueError(f"unsafe path {member.name!r} in {tarball.name}")
            target.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(member) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst)
            count += 1
    if count == 0:
        raise ValueError(f"no files of {pkg.name} matched {pkg.keep}")
    return count


def stamp() -> str:
    """What _vendor/ was made from; a change of the pins or of this file's rules remakes it."""
    rules = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]
    return "\n".join(f"{p.name}@{p.version} {p.sha256}" for p in PACKAGES) + f"\nrules {rules}\n"


def main() -> None:
    if (VENDOR / "STAMP").is_file() and (VENDOR / "STAMP").read_text() == stamp():
        print("site_assets: _vendor is up to date")
        return
    tmp = Path(tempfile.mkdtemp(prefix="_vendor.", dir=ROOT))
    try:
        for pkg in PACKAGES:
            n = unpack(pkg, fetch(pkg), tmp)
            print(f"site_assets: {pkg.name}@{pkg.version}: {n} files")
        (tmp / "STAMP").write_text(stamp())
        old = ROOT / "_vendor.old"
        shutil.rmtree(old, ignore_errors=True)
        if VENDOR.exists():
            VENDOR.rename(old)
        tmp.rename(VENDOR)
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
