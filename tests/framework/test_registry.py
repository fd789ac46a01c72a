"""The engine registry: built-ins by name, clear errors for duplicates and unknown names."""

from __future__ import annotations

import pytest

from engines.binpack import BinPackEngine
from engines.registry import EngineRegistry, RegistryError, default_registry


def test_the_builtin_binpack_engine_is_registered() -> None:
    assert "binpack" in default_registry().names()


def test_an_unknown_engine_name_lists_the_known_ones() -> None:
    with pytest.raises(RegistryError, match=r"unknown engine 'nope' \(known: binpack"):
        default_registry().get("nope")


def test_a_duplicate_engine_name_is_refused_naming_both_origins() -> None:
    registry = EngineRegistry([BinPackEngine])
    with pytest.raises(RegistryError, match="duplicate engine name 'binpack'"):
        registry.register(BinPackEngine, origin="entry point x")
