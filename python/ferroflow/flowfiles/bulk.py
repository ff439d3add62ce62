"""Building a large flow without the cyclic garbage collector's repeated passes.

Loading a flow file of tens of thousands of tasks creates objects by the hundred
thousand (parsed data, validated models, tasks, the dry-run plan). Python's cyclic
collector runs a full pass over every live object each time their number has grown by
a quarter, so during such a build it spends more time walking objects than the build
spends making them (about two thirds of a 40,000-task load). Reference counting still
frees memory meanwhile; the collector resumes at the end and finds any cycle then.

Example:
    >>> import gc
    >>> with collector_paused():
    ...     gc.isenabled()
    False
    >>> gc.isenabled()
    True
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["collector_paused"]


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for the block, if it runs (nested blocks and a
    collector already disabled by the program are left as they are)."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
