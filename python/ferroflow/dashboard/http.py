"""Small HTTP helpers every dashboard endpoint shares: JSON answers, errors, query parameters."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import QueryParamError
from .security import secure_headers

__all__ = ["encode_json", "encoded_response", "error", "int_param", "json_response"]


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as JSON, with the security headers."""
    return secure_headers(JSONResponse(data, status_code=status))


def encode_json(data: Any) -> bytes:
    """``data`` as the UTF-8 JSON bytes :func:`json_response` would send (to keep and send again)."""
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode("utf-8")


def encoded_response(body: bytes, status: int = 200) -> Response:
    """JSON already encoded by :func:`encode_json`, with the security headers."""
    return secure_headers(Response(body, status_code=status, media_type="application/json"))


def error(status: int, message: str, **extra: Any) -> Response:
    """``{"error": message, ...}`` with ``status``."""
    return json_response({"error": message, **extra}, status)


def int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    """An integer query parameter in ``[lo, hi]``.

    Raises:
        QueryParamError: It is not an integer, or out of range.
    """
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise QueryParamError(name, f"query parameter '{name}' must be an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise QueryParamError(name, f"query parameter '{name}' must be between {lo} and {hi}, got {value}")
    return value
