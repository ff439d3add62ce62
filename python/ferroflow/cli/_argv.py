"""Global options written after the command: ``ferroflow run x.py --log-level DEBUG --json-logs``.

Click reads the root's options only before the command's name. :func:`hoist_global_options`
moves the root's options found among a command's arguments to the front, using the click
commands themselves to tell an option's value from a global option: a value of one of the
command's own options stays where it is, and so does everything after ``--``. An option the
command defines itself keeps its meaning there.
"""

from __future__ import annotations

from collections.abc import Sequence

# Typer ships its own copy of Click; its commands and parameters are of these classes.
from typer._click.core import Command, Context, Parameter

__all__ = ["hoist_global_options"]


def _is_option(param: Parameter) -> bool:
    return param.param_type_name == "option"


def _takes_value(param: Parameter) -> bool:
    return _is_option(param) and not getattr(param, "is_flag", False) and not getattr(param, "count", False)


def _options(command: Command) -> dict[str, Parameter]:
    """Every spelling of ``command``'s options (``--help`` and ``-h`` included)."""
    table: dict[str, Parameter] = {}
    for param in command.get_params(Context(command)):
        if _is_option(param):
            for spelling in (*param.opts, *param.secondary_opts):
                table[spelling] = param
    return table


def _subcommands(command: Command) -> dict[str, Command] | None:
    """A group's commands by name; ``None`` for a plain command."""
    found = getattr(command, "commands", None)
    return found if isinstance(found, dict) else None


def _lookup(token: str, table: dict[str, Parameter]) -> tuple[Parameter | None, bool]:
    """The option ``token`` spells (``--name=value`` included) and whether its value is attached."""
    if token in table:
        return table[token], False
    if token.startswith("--") and "=" in token:
        return table.get(token.split("=", 1)[0]), True
    return None, False


def _skip_options(args: Sequence[str], start: int, table: dict[str, Parameter]) -> int:
    """The index of the first argument at or after ``start`` that is not an option or its value."""
    i = start
    while i < len(args) and args[i].startswith("-") and args[i] != "--":
        param, attached = _lookup(args[i], table)
        i += 2 if param is not None and _takes_value(param) and not attached else 1
    return i


def hoist_global_options(root: Command, args: Sequence[str]) -> list[str]:
    """``args`` with ``root``'s options that follow the (sub)command moved before it.

    Example:
        >>> import typer, typer.main
        >>> cli = typer.Typer()
        >>> @cli.callback()
        ... def main(log_level: str = "info", json_logs: bool = False) -> None: ...
        >>> @cli.command()
        ... def run(target: str, params: str = "") -> None: ...
        >>> args = ["run", "x.py", "--log-level", "DEBUG", "--params", "--json-logs", "--json-logs"]
        >>> hoist_global_options(typer.main.get_command(cli), args)
        ['--log-level', 'DEBUG', '--json-logs', 'run', 'x.py', '--params', '--json-logs']
    """
    args = list(args)
    globals_ = _options(root)
    i = _skip_options(args, 0, globals_)
    command = root
    while (commands := _subcommands(command)) is not None and i < len(args):
        sub = commands.get(args[i])
        if sub is None:
            return args
        command = sub
        i = _skip_options(args, i + 1, _options(command)) if _subcommands(command) is not None else i + 1
    if command is root:
        return args
    own = _options(command)
    head, tail = args[:i], args[i:]
    moved: list[str] = []
    kept: list[str] = []
    j = 0
    while j < len(tail):
        token = tail[j]
        if token == "--":
            kept.extend(tail[j:])
            break
        param, attached = _lookup(token, own)
        if param is not None:
            width = 2 if _takes_value(param) and not attached else 1
            kept.extend(tail[j : j + width])
            j += width
            continue
        param, attached = _lookup(token, globals_)
        if param is not None and token not in ("-h", "--help"):
            width = 2 if _takes_value(param) and not attached else 1
            moved.extend(tail[j : j + width])
            j += width
            continue
        kept.append(token)
        j += 1
    return moved + head + kept
