"""Small HTTP helpers every dashboard endpoint shares: JSON answers, errors, query parameters."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..errors import QueryParamError
from .security import secure_headers

__all__ = ["error", "int_param", "json_response"]


def json_response(data: Any, status: int = 200) -> Response:
    """``data`` as JSON, with the security headers."""
    return secure_headers(JSONResponse(data, status_code=status))


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
