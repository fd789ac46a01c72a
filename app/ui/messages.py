"""Banners for error text from sources and engines: escaped, shortened, the full text on demand.

Pages call `error_banner` instead of st.warning/st.error with an f-string, so a message such as
"kubernetes:x: kubeconfig ..." never renders as an emoji and a proxy's HTML error page shows as
one line with the page itself behind an expander.
"""

from __future__ import annotations

from typing import Any, Literal

import streamlit as st

from app.ui.format import is_shortened, md_escape, short_error

Kind = Literal["warning", "error", "info"]


def error_banner(
    text: str,
    *,
    title: str | None = None,
    kind: Kind = "warning",
    icon: str | None = ":material/warning:",
    container: Any = None,
    limit: int = 200,
) -> None:
    """A banner naming `title` (bold) with the shortened, escaped error; the full text expandable."""
    where = container if container is not None else st
    body = md_escape(short_error(text, limit))
    if title:
        body = f"**{md_escape(title)}**: {body}"
    getattr(where, kind)(body, icon=icon)
    if is_shortened(text, limit):
        with where.expander("Full error text" + (f" of {md_escape(title)}" if title else "")):
            st.code(text, language=None, wrap_lines=True)
