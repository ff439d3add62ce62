"""File preview: only files under watched roots, capped, text only, highlighted by Pygments."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import TextLexer, guess_lexer_for_filename
from pygments.util import ClassNotFound

from ..errors import FilePreviewError

__all__ = ["MAX_PREVIEW_BYTES", "preview_file"]

MAX_PREVIEW_BYTES = 256 * 1024


def _check_text(raw: str) -> None:
    if "\x00" in raw:
        raise FilePreviewError(400, "path contains a NUL byte")
    if "%" in raw and any(part in raw.lower() for part in ("%2e", "%2f", "%5c", "%00")):
        raise FilePreviewError(400, "path contains encoded traversal")
    if any(part == ".." for part in raw.replace("\\", "/").split("/")):
        raise FilePreviewError(400, "path contains '..'")


def preview_file(raw: str, roots: list[str], max_bytes: int = MAX_PREVIEW_BYTES) -> dict[str, Any]:
    """The preview JSON ``{path, size, truncated, language, html}`` of a file under ``roots``.

    Raises:
        FilePreviewError: The path breaks a rule (traversal, outside the roots,
            symlink escape, missing, not a file, binary).
    """
    _check_text(raw)
    if not raw:
        raise FilePreviewError(400, "the 'path' parameter is empty")
    resolved_roots = [Path(r).resolve() for r in roots]
    path = Path(raw)
    if not path.is_absolute():
        candidates = [root / raw for root in resolved_roots]
        path = next((c for c in candidates if c.exists()), candidates[0] if candidates else path)
    lexical = Path(os.path.abspath(path))
    if not any(lexical.is_relative_to(root) for root in resolved_roots):
        raise FilePreviewError(403, "the file is not under a watched root")
    if not lexical.exists() and not lexical.is_symlink():
        raise FilePreviewError(404, "no such file")
    real = lexical.resolve()
    if not any(real.is_relative_to(root) for root in resolved_roots):
        raise FilePreviewError(403, "the path leaves the watched roots through a symlink")
    if not real.is_file():
        raise FilePreviewError(400, "not a regular file")
    size = real.stat().st_size
    with open(real, "rb") as fh:
        data = fh.read(max_bytes)
    if b"\x00" in data[:8192]:
        raise FilePreviewError(415, "binary file: not previewed")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        if size > max_bytes and exc.start >= len(data) - 4:
            text = data[: exc.start].decode("utf-8")
        else:
            raise FilePreviewError(415, "binary file (not UTF-8 text): not previewed") from None
    try:
        lexer = guess_lexer_for_filename(real.name, text)
    except ClassNotFound:
        lexer = TextLexer()
    html = highlight(text, lexer, HtmlFormatter(nowrap=False, cssclass="hl"))
    return {"path": str(lexical), "size": size, "truncated": size > max_bytes, "language": lexer.name, "html": html}
