"""Sphinx tweaks for the dlcourse website.

Jupyter Book 1 always loads sphinx-thebe, whose inline configuration script declares
``const THEBE_JS_URL`` and ends up twice on every page ("Identifier 'THEBE_JS_URL' has already
been declared"). The book does not use Thebe (chapters open in Colab or Binder instead), so its
scripts are dropped from every page.

The site serves MathJax itself, from ``_vendor/`` (filled by ``scripts/site_assets.py``),
added here to the static files. (Not in ``_config.yml``: Jupyter Book would then load every
``.js`` file below it on every page.) A build without it stops with a clear error instead of
producing pages that fetch it from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from sphinx.errors import ConfigError

VENDORED = ("mathjax/tex-chtml.js",)


def _check_vendored(app, config) -> None:
    vendor = Path(app.confdir) / "_vendor"
    missing = [name for name in VENDORED if not (vendor / name).is_file()]
    if missing:
        raise ConfigError(
            f"the site's JavaScript is missing from {vendor}: {', '.join(missing)}; "
            "run `python scripts/site_assets.py` first (scripts/book.sh does)"
        )
    config.html_static_path = [*config.html_static_path, str(vendor)]


def _is_thebe(script) -> bool:
    filename = getattr(script, "filename", None) or str(script)
    body = getattr(script, "attributes", {}).get("body", "") or ""
    return "thebe" in (filename or "") or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):  # noqa: ARG001
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def setup(app):
    app.connect("config-inited", _check_vendored)
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
