"""Per-server-process resources for the pages: settings, the DB engine and the price book.

Streamlit reruns page scripts constantly; st.cache_resource keeps one engine per database URL and
one price book per data directory. Settings are re-read each run (cheap) so the cache key follows
the environment, which also keeps in-process AppTest runs against different databases apart.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from sqlalchemy import Engine

from app.bootstrap import open_database
from app.pricing import PriceCatalog, load_price_book
from app.settings import Settings, load_settings
from engines.registry import EngineRegistry, default_registry


def get_settings() -> Settings:
    return load_settings()


@st.cache_resource(show_spinner="Opening the database…")
def _engine_for(url: str) -> Engine:
    return open_database(get_settings())


def get_engine() -> Engine:
    return _engine_for(get_settings().database_url)


@st.cache_resource(show_spinner="Loading prices…")
def _prices_for(pricing_dir: Path) -> PriceCatalog:
    return load_price_book(pricing_dir)


def get_prices() -> PriceCatalog:
    return _prices_for(get_settings().pricing_dir)


@st.cache_resource(show_spinner=False)
def get_registry() -> EngineRegistry:
    return default_registry()
