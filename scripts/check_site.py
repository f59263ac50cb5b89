"""Load every page of the built site in headless Chromium and fail on JavaScript errors.

    .venv/bin/python scripts/check_site.py [--html _build/html] [--screenshots _build/screenshots]

Each page of ``_toc.yml`` is opened from disk with every other host blocked. The check fails on
a console error, an uncaught exception or an image of the site that does not load; requests
to other hosts are blocked and listed (the site is meant to read offline). A screenshot of every
page is saved for a person to look at. Uses Playwright driving Debian's ``chromium``
(``apt-get install chromium``); no browser is downloaded.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toc import ROOT, toc_files  # noqa: E402

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("check_site: Chromium not found; install it with `apt-get install chromium`")


def check_page(browser, page_path: Path, screenshot: Path) -> tuple[list[str], list[str]]:
    """(errors, blocked external requests) of one page."""
    errors: list[str] = []
    external: list[str] = []
    page = browser.new_page(viewport={"width": 1280, "height": 1600})

    def route(r):
        if r.request.url.startswith(("file:", "data:", "blob:", "about:")):
            r.continue_()
        else:
            external.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: errors.append(f"uncaught: {exc}"))

    def on_console(msg):
        # Requests we blocked on purpose show up as failed loads; they are listed separately.
        if msg.type == "error" and "net::ERR_FAILED" not in msg.text:
            errors.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    page.wait_for_timeout(500)
    broken = page.evaluate(
        "Array.from(document.images)"
        ".filter(i => i.src.startsWith('file:') && !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)"
    )
    errors += [f"image does not load: {src}" for src in broken]
    page.screenshot(path=str(screenshot))
    page.close()
    return errors, external


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    args = parser.parse_args()
    args.screenshots.mkdir(parents=True, exist_ok=True)
    failed = False
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        for entry in toc_files():
            page = args.html / f"{entry.removesuffix('.ipynb').removesuffix('.md')}.html"
            if not page.is_file():
                print(f"MISSING  {page}")
                failed = True
                continue
            shot = args.screenshots / f"{page.stem}.png"
            errors, external = check_page(browser, page, shot)
            status = "ERRORS" if errors else "ok"
            print(f"{status:8s} {page.relative_to(args.html)}  (screenshot {shot.name})")
            for err in errors:
                print(f"         {err}")
            for url in sorted(set(external)):
                print(f"         blocked external request: {url}")
            failed |= bool(errors)
        browser.close()
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
