"""Sphinx tweaks for the dlcourse website.

Jupyter Book 1 always loads sphinx-thebe, whose inline configuration script declares
``const THEBE_JS_URL`` and ends up twice on every page ("Identifier 'THEBE_JS_URL' has already
been declared"). The book does not use Thebe (chapters open in Colab or Binder instead), so its
scripts are dropped from every page.
"""

from __future__ import annotations


def _is_thebe(script) -> bool:
    filename = getattr(script, "filename", None) or str(script)
    body = getattr(script, "attributes", {}).get("body", "") or ""
    return "thebe" in (filename or "") or "THEBE_JS_URL" in body


def _drop_thebe(app, pagename, templatename, context, doctree):  # noqa: ARG001
    if "script_files" in context:
        context["script_files"] = [s for s in context["script_files"] if not _is_thebe(s)]


def setup(app):
    app.connect("html-page-context", _drop_thebe, priority=900)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
