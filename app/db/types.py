"""Column types shared by the tables: timezone-aware UTC timestamps and JSON documents.

SQLite has no timezone type, so timestamps are stored as naive UTC and handed back as aware UTC;
PostgreSQL stores `timestamptz`. Callers always see aware UTC datetimes.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, DateTime
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """DateTime that refuses naive input and always returns aware UTC."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store timezone-aware UTC times")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class JsonDoc(TypeDecorator[Any]):
    """JSON on both backends (JSONB-free so SQLite and PostgreSQL behave the same)."""

    impl = JSON
    cache_ok = True


class RawJson(str):
    """JSON text that is already serialized (e.g. by pydantic's fast `model_dump_json`).

    `json_serializer` below writes it as it is, so a 100,000-pod snapshot is not turned into
    Python dicts only to be dumped again; everything else goes through `json.dumps`.
    """


def json_serializer(value: Any) -> str:
    return str(value) if isinstance(value, RawJson) else json.dumps(value)
