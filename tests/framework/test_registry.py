"""The engine registry: built-ins by name, clear errors for duplicates and unknown names."""

from __future__ import annotations

from pathlib import Path

import pytest

from engines.binpack import BinPackEngine
from engines.registry import BUILTIN_ENGINES, EngineRegistry, RegistryError, default_registry


def test_the_builtin_binpack_engine_is_registered() -> None:
    assert "binpack" in default_registry().names()


def test_an_unknown_engine_name_lists_the_known_ones() -> None:
    with pytest.raises(RegistryError, match=r"unknown engine 'nope' \(known: binpack"):
        default_registry().get("nope")


def test_a_duplicate_engine_name_is_refused_naming_both_origins() -> None:
    registry = EngineRegistry([BinPackEngine])
    with pytest.raises(RegistryError, match="duplicate engine name 'binpack'"):
        registry.register(BinPackEngine, origin="entry point x")


def _install_fake_distribution(site: Path, module: str, body: str, entry: str) -> None:
    """A minimal installed distribution (dist-info with entry_points.txt) on a path we control."""
    (site / f"{module}.py").write_text(body)
    info = site / f"{module}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {module}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[cloudoptim.engines]\n{entry}\n")


ENGINE_SOURCE = '''
from pydantic import BaseModel, Field
from engines.contract import Engine, ScanResult


class IdleEngine(Engine):
    """Proposes nothing; proves installed engines are found."""

    name = "idle-check"
    title = "Idle check"

    class Settings(BaseModel):
        threshold: int = Field(1, description="a threshold, in units")

    def scan(self, snapshot, ctx):
        return ScanResult()
'''


def test_an_installed_engine_is_found_through_its_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_distribution(tmp_path, "idle_engine", ENGINE_SOURCE, "idle-check = idle_engine:IdleEngine")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry = default_registry()
    assert registry.names() == [*(cls.name for cls in BUILTIN_ENGINES), "idle-check"]
    assert registry.get("idle-check").title == "Idle check"


def test_an_installed_engine_that_fails_to_load_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _install_fake_distribution(tmp_path, "broken_engine", "raise ImportError('no numpy here')", "broken = broken_engine:X")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(RegistryError, match="installed engine 'broken'.*no numpy here"):
        default_registry()
