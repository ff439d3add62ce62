"""Help screens without a ``<bool>`` type next to on/off flags.

Typer labels every option with its type; for a flag (``--dry-run``, ``--help``) the label
``<bool>`` reads as if the flag took a value. :class:`FlagGroup` (the class of every
``ferroflow`` command group) blanks it on its own options and on those of each command it
hands out, the ``--help`` option included.
"""

from __future__ import annotations

from typing import Any

from typer._click import Context
from typer.core import TyperGroup

__all__ = ["FlagGroup"]


def _blank_flag_types(command: Any, ctx: Context) -> None:
    params = list(getattr(command, "params", []))
    help_option = command.get_help_option(ctx) if hasattr(command, "get_help_option") else None
    if help_option is not None:
        params.append(help_option)
    for param in params:
        if getattr(param, "is_flag", False) and getattr(param, "metavar", None) is None:
            param.metavar = ""


class FlagGroup(TyperGroup):
    """A command group whose help (and its commands' help) shows no type for flags."""

    def get_params(self, ctx: Context) -> list[Any]:
        """The group's parameters, flags without a type label."""
        _blank_flag_types(self, ctx)
        return list(super().get_params(ctx))

    def get_command(self, ctx: Context, cmd_name: str) -> Any:
        """The command ``cmd_name``, its flags without a type label."""
        command = super().get_command(ctx, cmd_name)
        if command is not None:
            _blank_flag_types(command, ctx)
        return command
