"""The layering the design promises, read from the source with ``ast``.

- ``ledger/`` is framework-free: it imports nothing from ``points``, ``catalog`` or Litestar.
- The HTTP handlers (``points/**/*web.py`` and ``web_*.py``) hold no SQL: they call ledger and service functions.
- Exceptions become HTTP statuses in one place, ``points/errors.py``.
- The service uses the ledger through its public face: ``ledger`` itself (``ledger/__init__.py``), its exceptions
  (``ledger.errors``), its pure values and limits (``ledger.model``) and its table descriptions (``ledger.tables``).

Each rule's checker is also run on a small snippet that breaks it, so a checker
that silently stopped finding anything would fail here too.
"""

from __future__ import annotations

import ast
import builtins
import re
from collections.abc import Iterator
from pathlib import Path

from ledger import errors as le

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN_IN_LEDGER = {"points", "catalog", "litestar"}


def python_files(package: str) -> list[Path]:
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"no Python files under {package}/"
    return files


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import, including those inside functions."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def forbidden_imports(source: str) -> list[str]:
    return [
        f"line {line}: {module}"
        for line, module in imported_modules(ast.parse(source))
        if module in FORBIDDEN_IN_LEDGER
    ]


def test_ledger_imports_no_framework() -> None:
    found = {
        str(path.relative_to(ROOT)): bad
        for path in python_files("ledger")
        if (bad := forbidden_imports(path.read_text()))
    }
    assert not found, f"ledger/ must not import points, catalog or litestar: {found}"


def test_forbidden_import_checker_finds_violations() -> None:
    snippet = "import litestar\nfrom points.db import connection\ndef f():\n    import catalog.x\nfrom . import model\n"
    assert forbidden_imports(snippet) == ["line 1: litestar", "line 2: points", "line 4: catalog"]


# ---- no SQL in the HTTP handlers ------------------------------------------------------------------

LEDGER_PUBLIC = {"ledger", "ledger.errors", "ledger.model", "ledger.tables"}


def ledger_reaches(source: str) -> list[str]:
    """Imports of ledger modules other than its public face, e.g. ``from ledger.queries import history`` or
    ``from ledger import db``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"{node.lineno}: import {a.name}" for a in node.names if a.name.startswith("ledger.")
                      and a.name not in LEDGER_PUBLIC]  # fmt: skip
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module.startswith("ledger.") and node.module not in LEDGER_PUBLIC:
                found.append(f"{node.lineno}: from {node.module}")
            elif node.module == "ledger":
                modules = [f"ledger.{a.name}" for a in node.names if f"ledger.{a.name}" in MODULES_OF_LEDGER]
                found += [f"{node.lineno}: from ledger import {m[7:]}" for m in modules if m not in LEDGER_PUBLIC]
    return found


MODULES_OF_LEDGER = {f"ledger.{p.stem}" for p in (ROOT / "ledger").glob("*.py") if p.stem != "__init__"}


def test_the_service_uses_the_ledgers_public_face() -> None:
    found = {
        str(path.relative_to(ROOT)): hits
        for package in ("points", "catalog")
        for path in python_files(package)
        if (hits := ledger_reaches(path.read_text()))
    }
    assert found == {}, f"import these from ledger (ledger/__init__.py) instead: {found}"


def test_ledger_reach_checker_finds_violations() -> None:
    bad = "from ledger.queries import history\nfrom ledger import db\nimport ledger.holds\n"
    assert len(ledger_reaches(bad)) == 3
    assert ledger_reaches("import ledger\nfrom ledger.errors import LedgerError\nfrom ledger import Line\n") == []


SQL = re.compile(r"\b(SELECT|INSERT|UPDATE|DELETE|TRUNCATE)\b")
DRIVER_CALLS = {"fetch", "fetchrow", "fetchval", "execute", "executemany", "copy_records_to_table"}
DRIVER_MODULES = {"asyncpg", "sqlalchemy", "psycopg"}


def sql_in(source: str) -> list[str]:
    tree = ast.parse(source)
    problems = [
        f"line {node.lineno}: SQL text {node.value[:40]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and SQL.search(node.value)
    ]
    problems += [
        f"line {node.lineno}: calls .{node.func.attr}()"
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in DRIVER_CALLS
    ]
    problems += [
        f"line {line}: imports {module}" for line, module in imported_modules(tree) if module in DRIVER_MODULES
    ]
    return problems


def test_http_handlers_contain_no_sql() -> None:
    handler_modules = sorted(
        {module for package in ("points", "catalog") for pattern in ("*web.py", "web_*.py")
         for module in (ROOT / package).rglob(pattern)}
    )  # fmt: skip
    assert len(handler_modules) >= 3  # ledger_web, auth/web, members/web
    for module in handler_modules:
        problems = sql_in(module.read_text())
        assert not problems, f"{module.relative_to(ROOT)} must call services, not the database: {problems}"


def test_sql_checker_finds_violations() -> None:
    snippet = 'import asyncpg\nasync def h(conn):\n    return await conn.fetch("SELECT 1 FROM ledger.accounts")\n'
    assert len(sql_in(snippet)) == 3


# ---- one place maps exceptions to HTTP statuses ---------------------------------------------------

ERRORS_MODULE = ROOT / "points" / "errors.py"
MAPPING_NAMES = {"ProblemDetailsException", "ProblemDetailsConfig", "exception_to_problem_detail_map"}
EXCEPTION_NAMES = {
    name
    for namespace in (vars(le), vars(builtins))
    for name, obj in namespace.items()
    if isinstance(obj, type) and issubclass(obj, BaseException)
}


def _is_exception(node: ast.expr | None) -> bool:
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name in EXCEPTION_NAMES or name.endswith(("Error", "Exception"))


def _is_status(node: ast.expr) -> bool:
    """An HTTP status: 404, (404, "title"), HTTP_404_NOT_FOUND."""
    if isinstance(node, ast.Tuple):
        return any(_is_status(e) for e in node.elts)
    if isinstance(node, ast.Constant):
        return isinstance(node.value, int) and 100 <= node.value <= 599
    name = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else ""
    return name.startswith("HTTP_")


def exception_mappings(source: str, errors_names: set[str]) -> list[str]:
    """Where a module other than points/errors.py decides how an exception looks over HTTP.

    ``errors_names`` are the names the module imported from ``points.errors``; handlers
    registered with ``exception_handlers=`` must be among them.
    """
    tree = ast.parse(source)
    problems: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            problems += [f"line {node.lineno}: uses {a.name}" for a in node.names if a.name in MAPPING_NAMES]
        elif isinstance(node, ast.Name | ast.Attribute):
            name = node.id if isinstance(node, ast.Name) else node.attr
            if name in MAPPING_NAMES:
                problems.append(f"line {node.lineno}: uses {name}")
        elif isinstance(node, ast.keyword) and node.arg in {"exception_handlers", "exception_to_problem_detail_map"}:
            handlers = node.value.values if isinstance(node.value, ast.Dict) else [node.value]
            for handler in handlers:
                if not (isinstance(handler, ast.Name) and handler.id in errors_names):
                    problems.append(f"line {handler.lineno}: an exception handler not from points.errors")
        elif isinstance(node, ast.Dict) and any(
            _is_exception(k) and _is_status(v) for k, v in zip(node.keys, node.values, strict=True)
        ):
            problems.append(f"line {node.lineno}: a table from exceptions to HTTP statuses")
    return sorted(set(problems))


def names_from_points_errors(source: str) -> set[str]:
    return {
        alias.asname or alias.name
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module == "points.errors"
        for alias in node.names
    }


def test_only_points_errors_maps_exceptions_to_statuses() -> None:
    found: dict[str, list[str]] = {}
    for path in [*python_files("points"), *sorted((ROOT / "catalog").rglob("*.py"))]:
        if path == ERRORS_MODULE:
            continue
        source = path.read_text()
        if problems := exception_mappings(source, names_from_points_errors(source)):
            found[str(path.relative_to(ROOT))] = problems
    assert not found, f"exceptions are mapped to HTTP responses only in points/errors.py: {found}"


def test_exception_mapping_checker_finds_violations() -> None:
    snippet = (
        "from points.errors import internal_error_handler\n"
        "from litestar.plugins.problem_details import ProblemDetailsException\n"
        "STATUS = {UnknownAccount: 404, le.HoldExpired: (409, 'expired')}\n"
        "app = Litestar(exception_handlers={KeyError: my_handler, Exception: internal_error_handler})\n"
        "CODES = {ValueError: HTTP_400_BAD_REQUEST}\n"
        "LABELS = {'a': 1, 'b': 2}\n"
    )
    assert exception_mappings(snippet, names_from_points_errors(snippet)) == [
        "line 2: uses ProblemDetailsException",
        "line 3: a table from exceptions to HTTP statuses",
        "line 4: an exception handler not from points.errors",
        "line 5: a table from exceptions to HTTP statuses",
    ]
    # and errors.py itself, the one place allowed, is exactly what the checker would catch
    assert exception_mappings(ERRORS_MODULE.read_text(), set())


def test_points_errors_gives_every_ledger_error_its_own_status() -> None:
    """No domain exception falls through to the catch-all 400 or to an unforeseen 500."""
    from points.errors import LEDGER_STATUS

    def subclasses(cls: type[le.LedgerError]) -> set[type[le.LedgerError]]:
        return {s for c in cls.__subclasses__() for s in {c, *subclasses(c)}}

    domain = {cls for cls in subclasses(le.LedgerError) if cls.__module__ == le.__name__}
    assert domain
    assert domain - set(LEDGER_STATUS) == set()
    assert len({cls.code for cls in domain}) == len(domain), "two exceptions share one code"
