"""The README's configuration table against the code: every variable, and each one's default.

The variables come from the code, never from a list kept here:

- every pydantic-settings class (a class deriving from ``BaseSettings``) under the packages, found by parsing
  the source and imported: each field's environment name (its ``validation_alias`` choices or ``alias``,
  else ``env_prefix`` + the field name) and its default;
- ``RECS_*`` names the code reads directly: ``os.environ.get(...)``, ``os.getenv(...)``,
  ``os.environ.setdefault(...)``, ``os.environ[...]``.

The table must list exactly these variables, each with the code's default. Its default column holds the
default as a code span (``20,000``, ``true``, ``.recs``; what follows the span is a comment) or starts with
``unset``. Every ``RECS_*`` name that the code or the docs mention must be a row of the table.
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
CODE_PACKAGES = ("recommender", "training", "serving", "benchmarks")
HEADER = ("variable", "default", "meaning")
UNSET = "unset"
NAME = re.compile(r"\bRECS_[A-Z0-9_]*[A-Z0-9]\b")
CELL_SPLIT = re.compile(r"(?<!\\)\|")  # a pipe inside a cell is written \|
CODE_SPAN = re.compile(r"`([^`]*)`")
UNKNOWN = object()  # a direct read whose default is computed at run time: not compared
# fields read by accident from a variable outside RECS_* (no alias, no env_prefix), to be fixed in the code
KNOWN_STRAY: dict[str, str] = {}  # name -> why a settings field is read from a variable outside RECS_*


@dataclass
class Variable:
    """An environment variable and where the code declares or reads it."""

    name: str
    defaults: dict[str, Any] = field(default_factory=dict)  # where -> default (None: unset)


# the code ------------------------------------------------------------------------------------------------
def source_files() -> list[Path]:
    return sorted(path for package in CODE_PACKAGES for path in (ROOT / package).rglob("*.py"))


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def settings_classes() -> list[type[BaseSettings]]:
    """Every class of the packages that derives from ``BaseSettings`` by name, imported."""
    found: list[type[BaseSettings]] = []
    for path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(base_name(base) == "BaseSettings" for base in node.bases):
                cls = getattr(importlib.import_module(module_name(path)), node.name)
                assert issubclass(cls, BaseSettings), f"{path}: {node.name}"
                found.append(cls)
    return found


def base_name(node: ast.expr) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return ""


def env_names(cls: type[BaseSettings], name: str, info: FieldInfo) -> list[str]:
    """The environment variables a settings field is read from, as pydantic-settings reads them."""
    alias = info.validation_alias
    if isinstance(alias, str):
        names = [alias]
    elif isinstance(alias, AliasChoices):
        names = [choice for choice in alias.choices if isinstance(choice, str)]
    elif info.alias:
        names = [info.alias]
    else:
        names = [f"{cls.model_config.get('env_prefix', '')}{name}"]
    return names if cls.model_config.get("case_sensitive") else [n.upper() for n in names]


def settings_variables() -> dict[str, Variable]:
    """Every variable of every settings class, with the field's default per class."""
    variables: dict[str, Variable] = {}
    for cls in settings_classes():
        for name, info in cls.model_fields.items():
            default = info.get_default(call_default_factory=True)
            for env in env_names(cls, name, info):
                variables.setdefault(env, Variable(env)).defaults[f"{cls.__module__}.{cls.__name__}.{name}"] = default
    return variables


def is_environ(node: ast.expr) -> bool:
    """``os.environ`` or a bare ``environ``."""
    return (isinstance(node, ast.Attribute) and node.attr == "environ") or (
        isinstance(node, ast.Name) and node.id == "environ"
    )


def direct_reads() -> dict[str, Variable]:
    """``RECS_*`` variables the code reads itself, with the default it gives (UNKNOWN when computed)."""
    reads: dict[str, Variable] = {}

    def add(name: object, default: Any, where: str) -> None:
        if isinstance(name, str) and name.startswith("RECS_"):
            reads.setdefault(name, Variable(name)).defaults[where] = default

    for path in source_files():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 0)}"
            if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
                func = node.func
                reader = (
                    isinstance(func, ast.Attribute)
                    and ((func.attr in ("get", "setdefault") and is_environ(func.value)) or func.attr == "getenv")
                ) or (isinstance(func, ast.Name) and func.id == "getenv")
                if reader:
                    default = node.args[1] if len(node.args) > 1 else None
                    value = UNKNOWN if default is not None and not isinstance(default, ast.Constant) else default
                    add(node.args[0].value, value.value if isinstance(value, ast.Constant) else value, where)
            elif (
                isinstance(node, ast.Subscript)
                and isinstance(node.ctx, ast.Load)
                and is_environ(node.value)
                and isinstance(node.slice, ast.Constant)
            ):
                add(node.slice.value, None, where)  # required where it is read: no default
    return reads


def code_variables() -> dict[str, Variable]:
    """Settings variables first; a direct read adds a variable, and its default only when no class has one."""
    variables = settings_variables()
    for name, read in direct_reads().items():
        variables.setdefault(name, read)
    return variables


# the table -----------------------------------------------------------------------------------------------
def readme_table(text: str) -> dict[str, tuple[str, str]]:
    """``{variable: (default cell, meaning cell)}`` of the table whose header is ``HEADER``."""
    lines = text.splitlines()
    headers = [i for i, line in enumerate(lines) if tuple(c.strip().lower() for c in cells(line)) == HEADER]
    assert len(headers) == 1, f"README.md needs one table with the header | {' | '.join(HEADER)} |"
    start = headers[0]
    rows: dict[str, tuple[str, str]] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        name, default, meaning = (cell.strip() for cell in cells(line))
        variable = name.strip("`")
        assert variable not in rows, f"README.md lists {variable} twice"
        rows[variable] = (default, meaning)
    return rows


def cells(line: str) -> list[str]:
    return CELL_SPLIT.split(line.strip().strip("|"))


def table_default(cell: str) -> str | None:
    """The default a cell states: None for ``unset``, else its first code span (or the whole cell)."""
    if cell.lower().startswith(UNSET):
        return None
    span = CODE_SPAN.search(cell)
    return (span.group(1) if span else cell).strip()


def same_default(stated: str | None, actual: Any) -> bool:
    if isinstance(actual, SecretStr):
        actual = actual.get_secret_value()
    if stated is None or actual is None:
        return stated is None and actual is None
    if isinstance(actual, bool):
        return stated.lower() == str(actual).lower()
    if isinstance(actual, int | float):
        try:
            return float(stated.replace(",", "").replace("_", "")) == float(actual)
        except ValueError:
            return False
    return stated == str(actual)


def mismatches(table: dict[str, tuple[str, str]], variables: dict[str, Variable]) -> list[str]:
    """What is wrong with the table, one line each (empty: the table matches the code)."""
    problems = [f"missing from the README table: {name}" for name in sorted(variables.keys() - table.keys())]
    problems += [f"in the README table, not in the code: {name}" for name in sorted(table.keys() - variables.keys())]
    for name in sorted(table.keys() & variables.keys()):
        cell, meaning = table[name]
        if not meaning:
            problems.append(f"{name}: no meaning in the README table")
        stated = table_default(cell)
        for where, actual in variables[name].defaults.items():
            if actual is not UNKNOWN and not same_default(stated, actual):
                problems.append(f"{name}: the README says {cell!r}, {where} defaults to {actual!r}")
    return problems


# the tests -----------------------------------------------------------------------------------------------
def test_the_code_declares_settings_the_test_can_find() -> None:
    classes = {cls.__name__ for cls in settings_classes()}
    assert {"TrainingSettings", "ServingSettings"} <= classes
    assert "RECS_REDIS_URL" in direct_reads()


def test_the_readme_table_lists_every_variable_with_its_default() -> None:
    variables = {name: v for name, v in code_variables().items() if name.startswith("RECS_") or is_aliased(name)}
    problems = mismatches(readme_table(README.read_text(encoding="utf-8")), variables)
    assert not problems, "README.md's configuration table is out of date:\n" + "\n".join(problems)


def is_aliased(env: str) -> bool:
    """A variable some field names explicitly (``MLFLOW_TRACKING_URI``), not one made from a field's name."""
    return any(
        env in env_names(cls, name, info)
        for cls in settings_classes()
        for name, info in cls.model_fields.items()
        if info.validation_alias is not None or info.alias is not None
    )


def test_every_recs_name_in_the_code_and_the_docs_is_in_the_table() -> None:
    documented = set(readme_table(README.read_text(encoding="utf-8")))
    texts = [*source_files(), README, *sorted((ROOT / "docs").glob("*.md")), *sorted((ROOT / "notebooks").glob("*"))]
    unknown = sorted(
        f"{path.relative_to(ROOT)}: {name}"
        for path in texts
        if path.is_file()
        for name in set(NAME.findall(path.read_text(encoding="utf-8", errors="replace")))
        if name not in documented
    )
    assert not unknown, "names that are not configuration variables:\n" + "\n".join(unknown)


def test_every_settings_field_is_read_from_a_project_variable() -> None:
    """A field read from a variable outside ``RECS_*`` that no alias names is an accident; the known one is
    listed in ``KNOWN_STRAY`` until it is fixed (then this test asks for the entry to go)."""
    stray = {name for name in settings_variables() if not (name.startswith("RECS_") or is_aliased(name))}
    assert not stray - KNOWN_STRAY.keys(), f"settings fields read from variables outside RECS_*: {sorted(stray)}"
    assert not KNOWN_STRAY.keys() - stray, f"fixed, remove from KNOWN_STRAY: {sorted(KNOWN_STRAY.keys() - stray)}"
