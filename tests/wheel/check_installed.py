"""Check a ferroflow installed from its wheel, as a user gets it (run by ``make test-wheel``).

Run with the Python of a fresh virtual environment where ``dist/ferroflow-*.whl[all]`` was
installed, and the repository as the argument::

    .venv-wheel/bin/python tests/wheel/check_installed.py .

It checks that the wheel's tag is an abi3 manylinux one, that every file of
``python/ferroflow/`` (templates, static assets, the ``.pyi`` stub, ``py.typed``, ...) was
installed, that every module imports (those of the extras included) as well as every
dependency of every extra, and that ``ferroflow --version``, ``python -m ferroflow --version``
and ``ferroflow demo`` work.
Each failure is listed; the exit code is 1 if there was any.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

try:
    from packaging.requirements import Requirement
except ImportError:  # pip vendors it in every virtual environment
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[assignment]

_WHEEL_NAME = re.compile(r"ferroflow-[^-]+-cp311-abi3-manylinux_\d+_\d+_\w+\.whl")


def check_wheel_tag(repo: Path) -> list[str]:
    """The one wheel in ``dist/`` has an abi3 manylinux tag."""
    wheels = sorted((repo / "dist").glob("ferroflow-*.whl"))
    if len(wheels) != 1:
        return [f"expected one wheel in dist/, found {[w.name for w in wheels]}"]
    if not _WHEEL_NAME.fullmatch(wheels[0].name):
        return [f"{wheels[0].name}: not an abi3 manylinux wheel"]
    print(f"wheel: {wheels[0].name}")
    return []


def source_files(repo: Path) -> list[str]:
    """The package's files in the repository, relative to ``python/ferroflow`` (tracked by git)."""
    listed = subprocess.run(
        ["git", "-C", str(repo), "ls-files", "python/ferroflow"], capture_output=True, text=True, check=True
    ).stdout.split()
    return sorted(str(Path(p).relative_to("python/ferroflow")) for p in listed)


def check_installed_files(repo: Path, package_dir: Path) -> list[str]:
    """Every file of the source package is installed, and so is the compiled extension."""
    if package_dir.is_relative_to(repo / "python"):
        return [f"ferroflow was imported from the repository ({package_dir}), not from the wheel"]
    problems = [f"missing from the wheel: {rel}" for rel in source_files(repo) if not (package_dir / rel).is_file()]
    if not list(package_dir.glob("_core.*")):
        problems.append("missing from the wheel: the compiled extension ferroflow/_core.*")
    print(f"files: {len(source_files(repo))} source files checked in {package_dir}")
    return problems


def check_modules(package_dir: Path) -> list[str]:
    """Every module of the installed package imports (public ones first, as users import them)."""
    names = [i.name for i in pkgutil.walk_packages([str(package_dir)], "ferroflow.") if not i.name.endswith("__main__")]
    problems, count = [], 0
    for name in sorted(names, key=lambda n: (any(part.startswith("_") for part in n.split(".")), n)):
        count += 1
        try:
            importlib.import_module(name)
        except Exception as e:  # noqa: BLE001 - every failure is reported, not only the first
            problems.append(f"import {name}: {type(e).__name__}: {e}")
    print(f"modules: {count} imported")
    return problems


def user_extras(requires: list[str]) -> list[str]:
    """The extras a user installs: those that ``ferroflow[all]`` brings (not ``dev`` or ``bench``)."""
    for line in requires:
        req = Requirement(line)
        if _normal(req.name) == "ferroflow" and req.marker is not None and req.marker.evaluate({"extra": "all"}):
            return sorted(req.extras)
    return []


def check_extras() -> list[str]:
    """Each dependency of each user extra is installed and its top-level modules import."""
    dist = metadata.distribution("ferroflow")
    extras = user_extras(dist.requires or [])
    if not extras:
        return ["the wheel's metadata has no extra 'all' naming the other extras"]
    modules_of: dict[str, list[str]] = {}
    for module, dist_names in metadata.packages_distributions().items():
        for name in dist_names:
            modules_of.setdefault(_normal(name), []).append(module)
    problems, imported = [], set()
    for line in dist.requires or []:
        req = Requirement(line)
        wanted = [extra for extra in extras if req.marker is not None and req.marker.evaluate({"extra": extra})]
        if not wanted or _normal(req.name) == "ferroflow":
            continue
        modules = [m for m in modules_of.get(_normal(req.name), []) if not m.startswith("_")]
        if not modules:
            problems.append(f"extra {wanted[0]!r}: {req.name} is not installed")
        for module in modules:
            try:
                importlib.import_module(module)
                imported.add(module)
            except Exception as e:  # noqa: BLE001
                problems.append(f"extra {wanted[0]!r}: import {module}: {type(e).__name__}: {e}")
    print(f"extras: {', '.join(extras)}; {len(imported)} dependency modules imported")
    return problems


def _normal(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def check_cli() -> list[str]:
    """``ferroflow --version`` (also as ``python -m ferroflow``) and ``ferroflow demo`` work from the install."""
    import ferroflow

    exe = Path(sys.executable).with_name("ferroflow")
    problems = []
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=60, check=False)
    if version.returncode != 0 or ferroflow.__version__ not in version.stdout:
        problems.append(f"ferroflow --version: exit {version.returncode}: {version.stdout}{version.stderr}")
    as_module = subprocess.run(
        [sys.executable, "-m", "ferroflow", "--version"], capture_output=True, text=True, timeout=60, check=False
    )
    if as_module.returncode != 0 or ferroflow.__version__ not in as_module.stdout:
        problems.append(f"python -m ferroflow --version: exit {as_module.returncode}: {as_module.stderr}")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "FERROFLOW_HOME": str(Path(tmp, "home"))}
        demo = subprocess.run(
            [exe, "demo", "--dir", str(Path(tmp, "demo"))],
            cwd=tmp,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    if demo.returncode != 0:
        problems.append(f"ferroflow demo: exit {demo.returncode}:\n{demo.stdout}\n{demo.stderr}")
    print(f"cli: {version.stdout.strip()}; ferroflow demo exit {demo.returncode}")
    return problems


def main() -> int:
    """Run every check; print what failed."""
    repo = Path(sys.argv[1]).resolve()
    import ferroflow

    package_dir = Path(ferroflow.__file__).resolve().parent
    problems = [
        *check_wheel_tag(repo),
        *check_installed_files(repo, package_dir),
        *check_modules(package_dir),
        *check_extras(),
        *check_cli(),
    ]
    for problem in problems:
        print(f"FAILED {problem}", file=sys.stderr)
    print("the installed wheel works" if not problems else f"{len(problems)} problem(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
