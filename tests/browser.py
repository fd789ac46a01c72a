"""Drive Debian's Chromium with Playwright (no browser download): launch options and page helpers
shared by the browser tests and scripts/screenshots.py."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from playwright.sync_api import Page, sync_playwright

CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip


def chromium_path() -> str | None:
    return shutil.which("chromium")


@contextmanager
def browser_page(width: int = 1400, height: int = 900) -> Iterator[Page]:
    path = chromium_path()
    if path is None:
        raise RuntimeError("Debian chromium is not installed (apt-get install chromium)")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=path, headless=True, args=CHROMIUM_ARGS)
        try:
            yield browser.new_page(viewport={"width": width, "height": height})
        finally:
            browser.close()


def wait_for_run(page: Page, timeout_ms: int = 60000) -> None:
    """Wait until Streamlit finished the script run (the status widget disappears)."""
    page.wait_for_timeout(300)
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout_ms)


def wait_for_widgets(page: Page, *selectors: str, timeout_ms: int = 60000) -> None:
    for selector in selectors:
        page.locator(selector).first.wait_for(timeout=timeout_ms)


def screenshot(page: Page, path: Any) -> None:
    page.screenshot(path=str(path), full_page=True)
