"""`cloudoptim ui` serves through app.ui.serve, which imports the first page's modules before
Streamlit listens (the first visit then skips about a second of imports)."""

from __future__ import annotations

import subprocess
import sys

from app.settings import Settings
from app.ui import serve
from cli.common import ui_command


def test_every_preloaded_module_imports() -> None:
    assert serve.preload() == []


def test_a_module_that_cannot_be_imported_is_reported_not_raised() -> None:
    assert serve.preload(("json", "cloudoptim_no_such_module")) == ["cloudoptim_no_such_module"]


def test_the_ui_command_runs_streamlit_through_the_preloading_entry_point() -> None:
    cmd = ui_command(Settings(), "127.0.0.1", 8599)
    assert cmd[1:5] == ["-m", "app.ui.serve", "run", cmd[4]] and cmd[4].endswith("streamlit_app.py")


def test_the_preloading_entry_point_hands_its_arguments_to_streamlit() -> None:
    done = subprocess.run([sys.executable, "-m", "app.ui.serve", "--version"], capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0 and "Streamlit, version" in done.stdout
