"""Exec an uploaded module's source in a fresh namespace and check the class it defines.

Called only inside the sandboxed child (`engines.uploaded.child`): exec runs the upload's code,
so it must never be called in the app or worker process. `static_name` is the exception: it reads
the engine name from the source with `ast` (no execution) so the service can store and show it.
"""

from __future__ import annotations

import ast
import re
import sys
import types
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from engines.contract import Engine

KEBAB = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")


class ShapeError(ValueError):
    """The module does not define exactly one well-formed engine class; the message says what."""


@dataclass
class Check:
    name: str
    passed: bool
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "message": self.message}


@dataclass
class Loaded:
    cls: type[Engine[Any]]
    checks: list[Check] = field(default_factory=list)


def static_name(source: str) -> str | None:
    """The string literal assigned to `name` in the first class body that has one, without running
    anything; None when the source does not parse or sets no literal name."""
    try:
        tree = ast.parse(source)
    except (SyntaxError, ValueError):
        return None
    for node in ast.walk(tree):
        if not isinstance(node, ast.ClassDef):
            continue
        for stmt in node.body:
            targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(stmt, ast.AnnAssign) else []
            value = getattr(stmt, "value", None)
            if any(isinstance(t, ast.Name) and t.id == "name" for t in targets) and isinstance(value, ast.Constant) \
                    and isinstance(value.value, str):
                return value.value
    return None


def load(source: str, module_name: str = "uploaded_engine") -> Loaded:
    """Exec `source` as module `module_name` and return its one Engine subclass with the shape checks.

    Raises ShapeError when there is no such class, more than one, or one missing name/title/
    Settings/scan; SyntaxError and whatever the module raises at import propagate to the caller.
    """
    code = compile(source, f"<upload {module_name}>", "exec")
    module = types.ModuleType(module_name)
    module.__file__ = f"<upload {module_name}>"
    sys.modules[module_name] = module  # pydantic resolves annotations through sys.modules
    exec(code, module.__dict__)
    found = [v for v in vars(module).values()
             if isinstance(v, type) and issubclass(v, Engine) and v is not Engine and v.__module__ == module_name]
    if not found:
        raise ShapeError("the module defines no subclass of engines.contract.Engine (DecisionEngine)")
    if len(found) > 1:
        raise ShapeError(f"the module defines {len(found)} engine classes ({', '.join(c.__name__ for c in found)}); "
                         "one module = one engine")
    cls = found[0]
    return Loaded(cls, shape_checks(cls))


def shape_checks(cls: type[Engine[Any]]) -> list[Check]:
    """The contract checks the built-ins pass (tests/framework/test_engine_contract.py) that need no scan."""
    checks: list[Check] = []
    name = getattr(cls, "name", None)
    ok = isinstance(name, str) and bool(KEBAB.match(name))
    checks.append(Check("name", ok, f"name {name!r}" + ("" if ok else " must be a kebab-case string, e.g. my-engine")))
    title = getattr(cls, "title", None)
    ok = isinstance(title, str) and bool(title.strip())
    checks.append(Check("title", ok, "has a title" if ok else "set `title` to a short human-readable name"))
    ok = bool((cls.__doc__ or "").strip())
    checks.append(Check("docstring", ok, "has a docstring" if ok else "the class needs a docstring (shown as help)"))
    settings = getattr(cls, "Settings", None)
    if not (isinstance(settings, type) and issubclass(settings, BaseModel)):
        checks.append(Check("settings", False, "`Settings` must be a pydantic BaseModel subclass"))
    else:
        fields = settings.model_fields
        undocumented = [n for n, f in fields.items() if not (f.description or "").strip()]
        if not fields:
            checks.append(Check("settings", False, "Settings must expose at least one documented setting"))
        elif undocumented:
            checks.append(Check("settings", False, f"settings without a description: {', '.join(undocumented)}"))
        else:
            checks.append(Check("settings", True, f"{len(fields)} setting(s), all described"))
    ok = "scan" in vars(cls) or any("scan" in vars(b) for b in cls.__mro__[1:] if b is not Engine and b is not object)
    checks.append(Check("scan", ok, "implements scan()" if ok else "implement scan(self, snapshot, ctx) -> ScanResult"))
    return checks
