"""How the API reference reads the package's docstrings (a griffe extension).

The package's docstrings are Google style with reST-flavoured inline markup, as the
Python tooling around them (doctest, ``help()``, editors) expects. Two adaptations make
them render well as Markdown without changing them:

- ``Example:`` (the singular section title) is read like ``Examples:``, so ``>>>`` lines
  become highlighted, copyable code blocks instead of paragraphs;
- cross-reference roles (``:class:`~ferroflow.x.Y```, ``:func:`f```, ...) become inline
  code showing the name (the last dotted part when the target starts with ``~``).
"""

from __future__ import annotations

import re
from typing import Any

from griffe import Extension, Object

_EXAMPLE_TITLE = re.compile(r"^(\s*)Example:\s*$", re.MULTILINE)
_ROLE = re.compile(r":(?:py:)?(?:class|func|meth|mod|attr|exc|data|obj|const):`(~?)([^`]+)`")


def _role_to_code(match: re.Match[str]) -> str:
    short, target = match.group(1), match.group(2)
    return f"`{target.rsplit('.', 1)[-1] if short else target}`"


def adapt(text: str) -> str:
    """The docstring ``text`` with the two adaptations above applied.

    Example:
        >>> adapt("See :class:`~ferroflow.engine.plan.RunPlan`.\\n\\nExample:\\n    >>> 1\\n    1")
        'See `RunPlan`.\\n\\nExamples:\\n    >>> 1\\n    1'
    """
    return _ROLE.sub(_role_to_code, _EXAMPLE_TITLE.sub(r"\1Examples:", text))


class DocstringAdapter(Extension):
    """Applies :func:`adapt` to every docstring griffe loads."""

    def on_instance(self, *, obj: Object, **kwargs: Any) -> None:
        """Rewrite ``obj``'s docstring before it is parsed."""
        if obj.docstring is not None:
            obj.docstring.value = adapt(obj.docstring.value)
