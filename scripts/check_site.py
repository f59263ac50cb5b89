"""Load every page of the built site in headless Chromium, as a reader meets it, and check it.

    .venv/bin/python scripts/check_site.py [--html _build/html] [--screenshots _build/screenshots]
    .venv/bin/python scripts/check_site.py --self-test    # show that a broken page fails

Every page of ``_toc.yml`` (and the search page) is opened from disk with every other host
blocked, since the site must read offline. A page fails on:

- a console error or an uncaught JavaScript exception;
- a request to another host (everything a page needs must be served by the site itself);
- an image that does not load;
- an internal link to a missing page, or to an anchor that the target page lacks;
- maths that MathJax did not render (a formula without MathJax output, a TeX error, or raw
  ``$$``, ``$...$`` or ``\\(`` left in the text outside code);
- a widget output without a static view, a static view without a figure (see
  ``dlcourse.widgets.static``), or "Loading widget..." text;
- a chapter with fewer than ``MIN_QUESTIONS`` self-check questions (``dlcourse.quiz``), or a
  question whose answer is not collapsed under a toggle;
- a figure of a cell's output without alt text (``mystnb: image: alt:`` in the cell metadata);
- a page weight (the page and every file it loads, uncompressed) over ``PAGE_BUDGET_BYTES``.

Every chapter must have its Colab launch button, opening that notebook's path in the
repository. And the site's search must find a chapter by a word of its text (:data:`SEARCH`).

Pages with a widget or a quiz, and the home page, are checked again in the dark theme. A
screenshot of every page (and of its first widget and quiz, and the dark variants) is saved
for a person to look at. ``--self-test`` copies the built
site, breaks one page in each of those ways and checks that every breakage is reported.
Uses Playwright driving Debian's ``chromium`` (``apt-get install chromium``); no browser is
downloaded.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from functools import cache
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml
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

#: The most a page may weigh: its HTML and every file it loads (scripts, styles, fonts,
#: images, MathJax), uncompressed, as read from disk. The theme alone is about 2.5 MB and
#: MathJax with its fonts about 1.2 MB; chapters measured 3.6 to 4.1 MB when this was set.
PAGE_BUDGET_BYTES = 8 * 1024 * 1024

#: How long to wait for MathJax to typeset a page.
MATHJAX_TIMEOUT_MS = 20_000


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    sys.exit("check_site: Chromium not found; install it with `apt-get install chromium`")


class _Ids(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):  # noqa: ARG002
        for name, value in attrs:
            if name in ("id", "name") and value:
                self.ids.add(value)


@cache
def page_ids(path: Path) -> frozenset[str]:
    """The ``id`` (and ``name``) attributes of an HTML file: the anchors a link may point to."""
    parser = _Ids()
    parser.feed(path.read_text(encoding="utf-8", errors="replace"))
    return frozenset(parser.ids)


def local_path(url: str) -> Path | None:
    """The file a ``file:`` URL points to, without query or fragment; ``None`` otherwise."""
    parts = urlsplit(url)
    if parts.scheme != "file":
        return None
    return Path(unquote(parts.path))


def link_problems(hrefs: list[str], site: Path) -> list[str]:
    """Internal links whose page or anchor does not exist (links to other hosts are not
    followed: the check runs offline)."""
    problems = []
    for href in sorted(set(hrefs)):
        path = local_path(href)
        if path is None:
            continue
        try:
            path.resolve().relative_to(site.resolve())
        except ValueError:
            problems.append(f"link leaves the site: {href}")
            continue
        if path.is_dir():
            path = path / "index.html"
        if not path.is_file():
            problems.append(f"broken link: {href}")
            continue
        fragment = unquote(urlsplit(href).fragment)
        if fragment and path.suffix == ".html" and fragment not in page_ids(path):
            problems.append(f"missing anchor: {href}")
    return problems


@dataclass
class PageReport:
    errors: list[str] = field(default_factory=list)
    weight: int = 0
    formulas: int = 0
    widgets: int = 0
    questions: int = 0
    colab: list[str] = field(default_factory=list)


MATH_STATE_JS = """
() => {
  const maths = Array.from(document.querySelectorAll('.math'));
  const unrendered = maths.filter(m => !m.querySelector('mjx-container')).length;
  const texErrors = document.querySelectorAll('mjx-merror').length;
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const raw = [];
  while (walker.nextNode()) {
    const node = walker.currentNode;
    if (node.parentElement.closest('pre, code, script, style, .highlight, mjx-container'))
      continue;
    const text = node.textContent;
    if (text.includes('$$') || /\\$[^$\\s][^$]*\\$/.test(text) || text.includes('\\\\(')
        || text.includes('\\\\['))
      raw.push(text.trim().slice(0, 60));
  }
  return {formulas: maths.length, unrendered, texErrors, raw};
}
"""

QUIZ_STATE_JS = """
() => {
  const items = Array.from(document.querySelectorAll('.dlcourse-quiz > ol > li'));
  const noAnswer = items.filter(li => {
    const d = li.querySelector(':scope > details');
    return !d || d.open || !d.querySelector('summary') || !d.innerText.trim();
  }).length;
  return {questions: items.length, noAnswer};
}
"""

ALT_TEXT_JS = """
() => Array.from(document.querySelectorAll('.cell_output img, .output img'))
  .filter(i => { const a = (i.getAttribute('alt') || '').trim();
                 return !a || /\\.(png|jpe?g|svg|gif)$/i.test(a); })
  .map(i => i.getAttribute('src').slice(0, 80))
"""

WIDGET_STATE_JS = """
() => {
  const cells = Array.from(document.querySelectorAll('.dlcourse-widget'));
  const empty = cells.filter(c => !c.querySelector('img')).length;
  const loading = document.body.innerText.includes('Loading widget');
  const views = 'script[type="application/vnd.jupyter.widget-view+json"]';
  const live = document.querySelectorAll(views).length;
  return {widgets: cells.length, empty, loading, live};
}
"""


def check_page(
    browser, page_path: Path, site: Path, screenshot: Path | None, dark: bool = False
) -> PageReport:
    """Load one page (in the light or the dark theme: the site follows the reader's system
    setting) and report its problems."""
    report = PageReport()
    loaded: set[Path] = {page_path.resolve()}
    page = browser.new_page(
        viewport={"width": 1280, "height": 1600}, color_scheme="dark" if dark else "light"
    )

    def route(r):
        url = r.request.url
        if url.startswith(("data:", "blob:", "about:")):
            r.continue_()
        elif url.startswith("file:"):
            path = local_path(url)
            if path is not None and path.is_file():
                loaded.add(path.resolve())
            r.continue_()
        else:
            report.errors.append(f"request to another host: {url}")
            r.abort()

    page.route("**/*", route)
    page.on("pageerror", lambda exc: report.errors.append(f"uncaught: {exc}"))

    def on_console(msg):
        # A request aborted above is reported once, as a request to another host.
        if msg.type == "error" and "net::ERR_FAILED" not in msg.text:
            report.errors.append(f"console: {msg.text}")

    page.on("console", on_console)
    page.goto(page_path.resolve().as_uri(), wait_until="load")
    has_math = page.evaluate("() => document.querySelectorAll('.math').length > 0")
    if has_math:
        try:
            page.wait_for_function(
                "() => window.MathJax && MathJax.startup && MathJax.startup.promise"
                " && document.querySelectorAll('.math mjx-container').length > 0",
                timeout=MATHJAX_TIMEOUT_MS,
            )
            page.evaluate("() => MathJax.startup.promise")
        except Exception as exc:  # noqa: BLE001 - reported as a failure of the page
            report.errors.append(f"MathJax did not start: {type(exc).__name__}")
    page.wait_for_timeout(300)

    maths = page.evaluate(MATH_STATE_JS)
    report.formulas = maths["formulas"]
    if maths["unrendered"]:
        report.errors.append(f"{maths['unrendered']} of {maths['formulas']} formulas not rendered")
    if maths["texErrors"]:
        report.errors.append(f"{maths['texErrors']} TeX errors in the maths")
    report.errors += [f"raw maths left in the text: {text!r}" for text in maths["raw"]]

    widgets = page.evaluate(WIDGET_STATE_JS)
    report.widgets = widgets["widgets"]
    if widgets["empty"]:
        report.errors.append(f"{widgets['empty']} widget(s) show no figure")
    if widgets["loading"]:
        report.errors.append("a widget shows 'Loading widget...'")
    if widgets["live"]:
        report.errors.append(f"{widgets['live']} widget output(s) without a static view")

    quizzes = page.evaluate(QUIZ_STATE_JS)
    report.questions = quizzes["questions"]
    if quizzes["noAnswer"]:
        report.errors.append(f"{quizzes['noAnswer']} quiz question(s) without a collapsed answer")
    report.errors += [f"figure without alt text: {src}" for src in page.evaluate(ALT_TEXT_JS)]

    broken = page.evaluate(
        "Array.from(document.images)"
        ".filter(i => !(i.complete && i.naturalWidth > 0))"
        ".map(i => i.src)"
    )
    report.errors += [f"image does not load: {src}" for src in broken]
    hrefs = page.evaluate("Array.from(document.querySelectorAll('a[href]')).map(a => a.href)")
    report.colab = sorted({h for h in hrefs if h.startswith(COLAB)})
    report.errors += link_problems(hrefs, site)

    report.weight = sum(p.stat().st_size for p in loaded)
    if report.weight > PAGE_BUDGET_BYTES:
        report.errors.append(
            f"page weight {report.weight / 2**20:.1f} MB is over the budget of "
            f"{PAGE_BUDGET_BYTES / 2**20:.0f} MB"
        )
    if screenshot is not None:
        page.screenshot(path=str(screenshot))
        # and the first widget's static view and quiz, where a reader meets them
        for kind, selector in (("widget", ".dlcourse-widget"), ("quiz", ".dlcourse-quiz")):
            if page.locator(selector).count():
                shot = screenshot.with_name(f"{screenshot.stem}-{kind}.png")
                page.locator(selector).first.screenshot(path=str(shot))
    page.close()
    return report


COLAB = "https://colab.research.google.com/"


def colab_url(notebook: str) -> str:
    """Where a chapter's launch button must point: Colab opening the notebook at its path in
    the repository of ``_config.yml``."""
    repo = yaml.safe_load((ROOT / "_config.yml").read_text())["repository"]
    owner_name = urlsplit(repo["url"]).path.strip("/")
    return f"{COLAB}github/{owner_name}/blob/{repo.get('branch', 'main')}/{notebook}"

#: Self-check questions every chapter (a notebook of the toc) must have.
MIN_QUESTIONS = 3


def chapter_problems(report: PageReport, page: Path, site: Path) -> list[str]:
    """What a chapter page must have beyond any page: its quiz and its own Colab button."""
    problems = []
    if report.questions < MIN_QUESTIONS:
        problems.append(f"{report.questions} self-check questions; a chapter needs {MIN_QUESTIONS}")
    expected = colab_url(page.relative_to(site).with_suffix(".ipynb").as_posix())
    if report.colab != [expected]:
        problems.append(f"Colab button {report.colab}, expected {expected}")
    return problems


def pages(site: Path) -> list[Path]:
    """The toc's pages, then the search page."""
    out = [site / f"{e.removesuffix('.ipynb').removesuffix('.md')}.html" for e in toc_files()]
    return out + [site / "search.html"]


def is_chapter(page: Path, site: Path) -> bool:
    """A page built from a notebook: a chapter, which must have its self-check quiz."""
    return (ROOT / page.relative_to(site)).with_suffix(".ipynb").is_file()


def check_site(site: Path, screenshots: Path | None) -> bool:
    """Check every page; print one line per page and its problems; True when all pass."""
    ok = True
    total = 0
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        for page in pages(site):
            if not page.is_file():
                print(f"MISSING  {page}")
                ok = False
                continue
            shot = None if screenshots is None else screenshots / f"{page.stem}.png"
            report = check_page(browser, page, site, shot)
            if is_chapter(page, site):
                report.errors += chapter_problems(report, page, site)
            if report.widgets or report.questions or page.stem == "intro":
                dark_shot = None if shot is None else shot.with_name(f"{page.stem}-dark.png")
                dark = check_page(browser, page, site, dark_shot, dark=True)
                report.errors += [f"(dark theme) {e}" for e in dark.errors]
            total += report.weight
            status = "ERRORS" if report.errors else "ok"
            extra = f", {report.widgets} widget(s)" if report.widgets else ""
            extra += f", {report.questions} questions" if report.questions else ""
            print(
                f"{status:8s} {str(page.relative_to(site)):34s} {report.weight / 2**20:5.1f} MB, "
                f"{report.formulas} formulas{extra}"
            )
            for err in report.errors:
                print(f"         {err}")
            ok &= not report.errors
        search = search_problems(browser, site)
        print(f"{'ERRORS' if search else 'ok':8s} search for {SEARCH[0]!r} finds {SEARCH[1]}")
        for err in search:
            print(f"         {err}")
        ok &= not search
        browser.close()
    print(f"page budget {PAGE_BUDGET_BYTES / 2**20:.0f} MB; {len(pages(site))} pages")
    return ok


#: A search the site must answer: (query, a page that must be among the results).
SEARCH = ("dilation", "book/conv_arithmetic.html")


def search_problems(browser, site: Path) -> list[str]:
    """Run :data:`SEARCH` on the site's search page, offline, as a reader would."""
    query, expected = SEARCH
    page = browser.new_page()
    page.route("**/*", lambda r: r.continue_() if r.request.url.startswith("file:") else r.abort())
    page.goto((site / "search.html").resolve().as_uri() + f"?q={query}", wait_until="load")
    try:
        page.wait_for_function(
            "() => document.querySelectorAll('#search-results li a').length > 0", timeout=20_000
        )
    except Exception:  # noqa: BLE001 - reported below
        pass
    hits = page.evaluate(
        "() => Array.from(document.querySelectorAll('#search-results li a')).map(a => a.href)"
    )
    page.close()
    if not any(h.split("#")[0].endswith(expected) for h in hits):
        return [f"search for {query!r} does not find {expected} (found {len(hits)} pages)"]
    return []


#: (what is injected into a copy of a chapter, the error that must be reported)
BREAKAGES = {
    "broken link": ('<a href="no-such-page.html">x</a>', "broken link"),
    "missing anchor": ('<a href="#no-such-anchor">x</a>', "missing anchor"),
    "missing image": ('<img src="no-such-image.png" alt="x">', "image does not load"),
    "JavaScript error": ("<script>throw new Error('deliberate');</script>", "uncaught"),
    "unclosed display maths": ("<p>$$x^2 with no closing delimiter</p>", "raw maths"),
    "raw inline maths": ("<p>the area $k^2 c$ of a kernel</p>", "raw maths"),
    "TeX error": ('<div class="math notranslate nohighlight">\\[\\frac{1}\\]</div>', "TeX errors"),
    "external request": ('<img src="http://example.invalid/x.png" alt="x">', "another host"),
    "empty widget": ('<div class="dlcourse-widget"><p>nothing</p></div>', "show no figure"),
    "quiz without answer": (
        '<div class="dlcourse-quiz"><ol><li><p>Q?</p></li></ol></div>',
        "without a collapsed answer",
    ),
    "figure without alt text": (
        '<div class="cell_output"><img src="../_static/images/logo_colab.png" alt="x.png"></div>',
        "without alt text",
    ),
    "widget without static view": (
        '<script type="application/vnd.jupyter.widget-view+json">{"model_id": "x"}</script>',
        "without a static view",
    ),
}


def self_test(site: Path) -> bool:
    """Break a copy of a built chapter in each way of :data:`BREAKAGES`; every one must fail."""
    chapter = next(page for page in pages(site) if is_chapter(page, site))
    ok = True
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        scratch = Path(tmp) / "html"
        shutil.copytree(site, scratch)
        target = scratch / chapter.relative_to(site)
        original = target.read_text(encoding="utf-8")
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        clean = check_page(browser, target, scratch, None)
        if clean.errors:
            print(f"self-test: the unbroken page already fails: {clean.errors}")
            ok = False
        for name, (html, expected) in BREAKAGES.items():
            target.write_text(re.sub("</article>", html + "</article>", original, count=1))
            page_ids.cache_clear()
            errors = check_page(browser, target, scratch, None).errors
            caught = [e for e in errors if expected in e]
            print(f"{'caught' if caught else 'MISSED':8s} {name}: {caught[:1] or errors[:2]}")
            ok &= bool(caught)
        # a chapter whose quiz is gone, and one whose Colab button opens another notebook
        for name, (old, new), expected in (
            ("chapter without quiz", ('class="dlcourse-quiz"', 'class="gone"'), "self-check"),
            ("wrong Colab button", (f"{target.stem}.ipynb", "intro.ipynb"), "Colab button"),
        ):
            assert old in original, old
            target.write_text(original.replace(old, new))
            report = check_page(browser, target, scratch, None)
            errors = chapter_problems(report, target, scratch)
            caught = [e for e in errors if expected in e]
            print(f"{'caught' if caught else 'MISSED':8s} {name}: {caught[:1] or errors[:2]}")
            ok &= bool(caught)
        (target.parent / "heavy.bin").write_bytes(b"\0" * (PAGE_BUDGET_BYTES + 1))
        target.write_text(original.replace("</body>", '<img src="heavy.bin" alt="x"></body>'))
        errors = check_page(browser, target, scratch, None).errors
        caught = [e for e in errors if "over the budget" in e]
        print(f"{'caught' if caught else 'MISSED':8s} page over budget: {caught[:1] or errors[:2]}")
        ok &= bool(caught)
        browser.close()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--html", type=Path, default=ROOT / "_build" / "html")
    parser.add_argument("--screenshots", type=Path, default=ROOT / "_build" / "screenshots")
    parser.add_argument("--self-test", action="store_true", help="show that breakages fail")
    args = parser.parse_args()
    if not (args.html / "index.html").is_file():
        sys.exit(f"check_site: no site at {args.html}; build it first (bash scripts/book.sh)")
    if args.self_test:
        return 0 if self_test(args.html) else 1
    args.screenshots.mkdir(parents=True, exist_ok=True)
    return 0 if check_site(args.html, args.screenshots) else 1


if __name__ == "__main__":
    sys.exit(main())
