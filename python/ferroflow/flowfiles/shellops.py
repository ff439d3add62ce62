"""Shell syntax in a command that runs without a shell: a mistake to report, not to run.

A ``command`` string without ``"shell": true`` is split like a shell would split it and
run directly, so ``echo a && echo b`` would run ``echo`` with ``&&`` among its arguments.
:func:`shell_operator` finds the first piece of shell syntax a shell would act on (an
operator outside quotes, or a command substitution outside single quotes), so the flow
file can be refused before anything runs.

Example:
    >>> shell_operator("echo a && echo b")
    '&&'
    >>> shell_operator("grep 'a|b' file.txt") is None
    True
    >>> shell_operator('echo "today is $(date)"')
    '$(...)'
"""

from __future__ import annotations

__all__ = ["SHELL_OPERATORS", "shell_operator"]

#: Operators a shell acts on outside quotes, longest first (so ``&&`` wins over ``&``).
SHELL_OPERATORS = ("&&", "||", ">>", "|", ";", "&", ">", "<")


def shell_operator(command: str) -> str | None:
    """The first shell operator or substitution a shell would act on in ``command``, if any.

    Returns:
        The operator as written (``"&&"``, ``"|"``, ``";"``, ``">"``...), ``"$(...)"`` or
        ``"`...`"`` for a command substitution, or None when a shell would read ``command``
        as plain words.
    """
    quote: str | None = None  # None (bare), "'" or '"'
    i, n = 0, len(command)
    while i < n:
        ch = command[i]
        if quote == "'":
            if ch == "'":
                quote = None
        elif ch == "\\":
            i += 1  # the next character is literal
        elif ch == "`":
            return "`...`"
        elif ch == "$" and command[i + 1 : i + 2] == "(":
            return "$(...)"
        elif quote == '"':
            if ch == '"':
                quote = None
        elif ch in "'\"":
            quote = ch
        else:
            for op in SHELL_OPERATORS:
                if command.startswith(op, i):
                    return op
        i += 1
    return None
