"""Per-server-process resources for the pages: settings, the DB engine, the price book, engines.

Streamlit reruns page scripts constantly; st.cache_resource keeps one engine per database URL,
one price book per data directory and one engine registry. Settings are re-read each run (cheap)
so the cache key follows the environment, which also keeps in-process AppTest runs against
different databases apart. The price catalog and the engine registry (numpy, scipy) are imported
on first use, not here: the Overview needs neither, and importing them made the first visit of a
fresh server several seconds slower.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import streamlit as st
from sqlalchemy import Engine

from app.bootstrap import open_database
from app.settings import Settings, load_settings

if TYPE_CHECKING:
    from app.pricing import PriceCatalog
    from engines.registry import EngineRegistry


def get_settings() -> Settings:
    return load_settings()


_OPENED: list[Engine] = []  # every engine _engine_for made, so they can be closed together


@st.cache_resource(show_spinner="Opening the database…")
def _engine_for(url: str) -> Engine:
    engine = open_database(get_settings())
    _OPENED.append(engine)
    return engine


def close_engines() -> None:
    """Forget and dispose every cached engine (their pooled connections close now, not at garbage
    collection). In-process AppTest runs open one engine per test database; a long test session
    on one PostgreSQL server would otherwise run out of connections."""
    _engine_for.clear()
    while _OPENED:
        _OPENED.pop().dispose()


def get_engine() -> Engine:
    return _engine_for(get_settings().database_url)


@st.cache_resource(show_spinner="Loading prices…")
def _prices_for(pricing_dir: Path) -> PriceCatalog:
    from app.pricing import load_price_book

    return load_price_book(pricing_dir)


def get_prices() -> PriceCatalog:
    return _prices_for(get_settings().pricing_dir)


@st.cache_resource(show_spinner="Loading the engines…")
def get_registry() -> EngineRegistry:
    from engines.registry import default_registry

    return default_registry()
