"""Fixtures of the upload tests: the module files, principals of each role, tight sandbox limits,
and helpers that upload a module and let the validator (the worker's job) run it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.db.states import Role, UploadState
from app.pricing import load_price_book
from app.services.access import Principal
from app.services.engine_uploads import UploadView, list_uploads, upload_engine, validate_pending
from app.services.upload_sandbox import Limits
from sandbox.aws import LocalAws

HERE = Path(__file__).parent
ADMIN = Principal("root-admin", Role.ADMIN)
ANALYST = Principal("ann", Role.ANALYST)
VIEWER = Principal("vic", Role.VIEWER)
# Tight limits keep the hostile runs short; the defaults are the same shape, only larger.
FAST = Limits(wall_s=6.0, cpu_s=5, memory_mib=512, processes=8)


def module(path: str, **replace: str) -> bytes:
    """A module file under tests/uploads, with placeholders (e.g. PORT_HERE) filled in."""
    text = (HERE / path).read_text(encoding="utf-8")
    for key, value in replace.items():
        text = text.replace(key, value)
    return text.encode()


def validated(db: Engine, path: str, limits: Limits = FAST, **replace: str) -> UploadView:
    """Upload `path` as an admin, run the validator once, return the module's view."""
    outcome = upload_engine(db, Path(path).name, module(path, **replace), actor=ADMIN)
    assert outcome.state is UploadState.PENDING, outcome.message
    done = validate_pending(db, load_price_book(), limits=limits)
    assert outcome.name in done
    return next(u for u in list_uploads(db) if u.name == outcome.name)


@pytest.fixture(scope="session")
def local_aws() -> Iterator[LocalAws]:
    with LocalAws() as aws:
        yield aws
