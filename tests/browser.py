"""Drive Debian's Chromium with Playwright (no browser download): launch options and page helpers
shared by the browser tests and scripts/screenshots.py.

The web app keeps its session token in Streamlit's session state, which lives as long as the
browser tab's websocket: after `sign_in`, move between pages with `open_page` (the sidebar's
links), never `page.goto`, which starts a new, signed-out session.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests
from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
PASSWORD = "correct horse battery staple"  # the browser tests' accounts (at least 10 characters)
CLI = [str(Path(sys.executable).parent / "cloudoptim")]
# Every page of the app as (sidebar title, file name of its screenshot); the last is admins' only.
PAGES = [
    ("Overview", "overview"), ("Plan", "plan"), ("Recommendations", "recommendations"),
    ("Executions", "executions"), ("Spot events", "spot-events"), ("Schedules", "schedules"),
    ("Clusters and nodes", "clusters"), ("Engines", "engines"), ("Models", "models"),
    ("Settings and users", "admin"),
]  # fmt: skip


def chromium_path() -> str | None:
    return shutil.which("chromium")


@contextmanager
def browser_page(width: int = 1400, height: int = 900, failure_shot: Path | None = None) -> Iterator[Page]:
    """A fresh browser tab; when the block fails, the page as it was is saved to `failure_shot`."""
    path = chromium_path()
    if path is None:
        raise RuntimeError("Debian chromium is not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            try:
                yield page
            except BaseException:
                if failure_shot is not None:
                    screenshot(page, failure_shot)
                raise
        finally:
            browser.close()


def wait_for_run(page: Page, timeout_ms: int = 60000) -> None:
    """Wait until Streamlit finished the script run (the status widget disappears)."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


def wait_for_widgets(page: Page, *selectors: str, timeout_ms: int = 60000) -> None:
    for selector in selectors:
        page.locator(selector).first.wait_for(timeout=timeout_ms)


def click_row(page: Page, index: int = 0, row_px: int = 35, header_px: int = 35) -> None:
    """Tick the selection box of row `index` of the page's first data grid (it draws on a canvas,
    so by position: the grid's default row and header heights) and wait for the rerun."""
    grid = page.get_by_test_id("stDataFrame").first
    grid.scroll_into_view_if_needed()
    box = grid.bounding_box()
    assert box is not None, "the data grid is not drawn"
    page.mouse.click(box["x"] + 15, box["y"] + header_px + row_px * index + row_px // 2)
    wait_for_run(page)


def sign_in(page: Page, url: str, user: str, password: str, timeout_ms: int = 60000) -> None:
    """Open `url`, fill the sign-in form and wait for the sidebar's "Signed in as" line."""
    page.goto(url)
    wait_for_run(page, timeout_ms)
    page.get_by_label("User name").fill(user)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_test_id("stSidebar").get_by_text("Signed in as").wait_for(timeout=timeout_ms)
    wait_for_run(page, timeout_ms)


def open_page(page: Page, title: str, timeout_ms: int = 60000) -> None:
    """Click the sidebar's link to the page `title` (the session stays signed in) and wait for its run."""
    page.get_by_test_id("stSidebarNav").get_by_role("link", name=title, exact=True).click()
    wait_for_run(page, timeout_ms)


def add_account(name: str, role: str, env: dict[str, str] | None = None) -> None:
    """Create a web app account with the CLI (`cloudoptim users add NAME --role ROLE --password-stdin`)."""
    done = subprocess.run([*CLI, "users", "add", name, "--role", role, "--password-stdin"], input=f"{PASSWORD}\n",
                          text=True, env=env, check=False, capture_output=True, timeout=120)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"cloudoptim users add {name} failed ({done.returncode}): {done.stderr}{done.stdout}")


def tour(page: Page, out_dir: Path, prefix: str = "") -> list[Path]:
    """Open every page the signed-in role has in the sidebar and save a screenshot of each."""
    nav = page.get_by_test_id("stSidebarNav")
    saved = []
    for title, name in PAGES:
        if nav.get_by_role("link", name=title, exact=True).count() == 0:
            continue  # not this role's page (Settings and users for non-admins)
        open_page(page, title)
        page.wait_for_timeout(800)  # let charts draw
        errors = page.get_by_test_id("stException")
        assert errors.count() == 0, f"the {title} page raised: {errors.first.inner_text()[:500]}"
        screenshot(page, out_dir / f"{prefix}{name}.png")
        saved.append(out_dir / f"{prefix}{name}.png")
    return saved


def screenshot(page: Page, path: Any) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(path), full_page=True)


@dataclass(frozen=True)
class Demo:
    """A running `cloudoptim demo`: its UI, data directory, environment and admin password."""

    url: str
    data_dir: Path
    env: dict[str, str]
    admin_password: str


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        return requests.get(f"{url}/_stcore/health", timeout=2).ok
    except requests.RequestException:
        return False


@contextmanager
def running_demo(data_dir: Path, timeout_s: float = 420) -> Iterator[Demo]:
    """Start `cloudoptim demo` on a free port with its own data directory; read the admin password
    from its "demo is running" banner (stderr); stop the whole process group afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDOPTIM_")}
    env.update(CLOUDOPTIM_DATA_DIR=str(data_dir), COLUMNS="300")  # one banner line per sentence
    data_dir.mkdir(parents=True, exist_ok=True)
    log = data_dir.parent / f"{data_dir.name}-demo.stderr"
    url = f"http://127.0.0.1:{free_port()}"
    with log.open("wb") as err:
        proc = subprocess.Popen([*CLI, "demo", "--port", url.rsplit(":", 1)[1]], env=env, stdout=subprocess.DEVNULL,
                                stderr=err, start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + timeout_s
        found = None
        while found is None:
            if proc.poll() is not None:
                raise RuntimeError(f"the demo exited ({proc.returncode}): {log.read_text()[-2000:]}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo did not start within {timeout_s:g}s: {log.read_text()[-2000:]}")
            found = re.search(r"with password\s+(\S+)\s+\(shown once", log.read_text())
            time.sleep(0.5)
        assert _healthy(url), "the demo printed its banner but its UI does not answer"
        yield Demo(url, data_dir, env, found.group(1))
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
