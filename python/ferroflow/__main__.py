"""``python -m ferroflow``: the command line."""

from __future__ import annotations

from ferroflow.cli.app import main

if __name__ == "__main__":
    main()
