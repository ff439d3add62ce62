"""Text of user objects that never raises: ``str``/``repr`` with a fallback.

A task's exception, result or parameter is a user object, and its ``__str__`` or
``__repr__`` may raise. Every place that turns one into text (error messages, the
store, reports, logs, the CLI) goes through these functions, so a broken
``__str__`` costs a placeholder, never the run's finish::

    >>> class Bad(Exception):
    ...     def __str__(self):
    ...         raise ValueError("no text")
    ...     __repr__ = __str__
    >>> safe_str(Bad())
    '<unprintable Bad object>'
    >>> describe_error(Bad())
    'Bad: <unprintable Bad object>'
"""

from __future__ import annotations

__all__ = ["describe_error", "json_default", "safe_repr", "safe_str"]


def _unprintable(obj: object) -> str:
    return f"<unprintable {type(obj).__name__} object>"


def safe_repr(obj: object) -> str:
    """``repr(obj)``, or ``<unprintable TYPE object>`` when that raises.

    Example:
        >>> safe_repr("a")
        "'a'"
    """
    try:
        text = repr(obj)
    except Exception:  # noqa: BLE001 - a user __repr__ may raise anything
        return _unprintable(obj)
    return text if isinstance(text, str) else _unprintable(obj)


def safe_str(obj: object) -> str:
    """``str(obj)``; when that raises, ``repr(obj)``; when that raises too, ``<unprintable TYPE object>``.

    Example:
        >>> safe_str(KeyError("k"))
        "'k'"
    """
    if type(obj) is str:
        return obj  # an exact str: nothing to call
    try:
        text = str(obj)
    except Exception:  # noqa: BLE001 - a user __str__ may raise anything
        return safe_repr(obj)
    return text if isinstance(text, str) else safe_repr(obj)


def describe_error(exc: BaseException) -> str:
    """``"Type: message"`` of an exception (``"Type"`` alone when the message is empty).

    Example:
        >>> describe_error(KeyError("k"))
        "KeyError: 'k'"
        >>> describe_error(RuntimeError())
        'RuntimeError'
    """
    text = safe_str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def json_default(obj: object) -> str:
    """``default=`` for :func:`json.dumps`: a value JSON cannot hold is written as its :func:`safe_str`.

    Example:
        >>> import json
        >>> json.dumps({"when": object}, default=json_default)
        '{"when": "<class \\'object\\'>"}'
    """
    return safe_str(obj)
