"""Text helpers for the pages: money, times, quantities, and user or error text made safe to show.

Streamlit renders st.markdown, st.caption, banners (st.info/warning/error), toasts, st.table cells
and widget labels as Markdown with extras: `:x:` emoji shortcodes, `:red[...]` colours,
`:material/...:` icons and `$...$` LaTeX. Cluster names and error messages are not Markdown, so
every such string goes through `md_escape` first, and long source errors (a proxy's whole HTML
500 page) through `short_error`. Pure functions, no Streamlit: used by pages and app/ui widgets.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal, InvalidOperation

ZERO_WIDTH_SPACE = "\u200b"
GIB = 2**30
MIB = 2**20

# Every ASCII punctuation character may be backslash-escaped in CommonMark; these are the ones
# that start Markdown, HTML, entity or LaTeX syntax.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~$&=^])")
# A backslash does not stop emoji shortcodes (remark-emoji matches the unescaped text), so a
# zero-width space after the colon breaks `:x:`, `:+1:`, `:red[` and `:material/...:` instead.
# Only colons that start such a code get one, so URLs and "source: message" stay copyable.
_DIRECTIVE_COLON = re.compile(r":(?=(?:\\?[\w+\-])+(?::|\\\[)|material/)")
_HTML_START = re.compile(r"<(?:!doctype|html|head|body|title|h[1-6]|p|div|center|pre|hr)\b", re.IGNORECASE)
_SCRIPT_OR_STYLE = re.compile(r"<(script|style)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]*>")
_STATUS = re.compile(r"(?:\bHTTP(?:\s+status)?\s*|\()([1-5]\d\d)\b")
_SPACES = re.compile(r"\s+")


def md_escape(text: object) -> str:
    """`text` as literal characters in any Markdown-rendering Streamlit element."""
    escaped = _MD_SPECIAL.sub(r"\\\1", str(text))
    return _DIRECTIVE_COLON.sub(":" + ZERO_WIDTH_SPACE, escaped)


def collapse(text: str) -> str:
    return _SPACES.sub(" ", text).strip()


def strip_html(text: str) -> str:
    """The visible text of an HTML fragment, one line per block, entities decoded."""
    without_code = _SCRIPT_OR_STYLE.sub(" ", text)
    lines = (collapse(line) for line in html.unescape(_TAG.sub("\n", without_code)).splitlines())
    return "\n".join(line for line in lines if line)


def short_error(text: str | None, limit: int = 200) -> str:
    """One readable line of an error: its status code and first line, HTML pages reduced to their
    title. `limit` caps the length (with an ellipsis); show the full text separately."""
    if not text:
        return ""
    page = _HTML_START.search(text)
    if page:
        prefix = collapse(text[: page.start()])
        body = strip_html(text[page.start() :]).splitlines()
        line = f"{prefix} {body[0]}".strip() if body else prefix
    else:
        lines = [line for line in text.strip().splitlines() if line.strip()]
        line = collapse(lines[0]) if lines else ""
    status = _STATUS.search(text)
    if status and status.group(1) not in line:
        line = f"HTTP {status.group(1)}: {line}"
    return line if len(line) <= limit else line[: limit - 1].rstrip() + "…"


def is_shortened(text: str | None, limit: int = 200) -> bool:
    """Whether `short_error` drops anything a reader might need (then offer the full text)."""
    return bool(text) and short_error(text, limit) != collapse(text or "")


def usd(amount: Decimal | float | str | None) -> str:
    if amount is None or amount == "":
        return "—"
    return f"${to_decimal(amount):,.2f}"


def when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def joined(values: Iterable[object], empty: str = "none") -> str:
    items = [str(v) for v in values]
    return ", ".join(items) if items else empty


def to_decimal(value: Decimal | float | int | str) -> Decimal:
    """Decimal from a stored value (money comes back from JSON as a string)."""
    if isinstance(value, Decimal):
        return value
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a number: {value!r}") from None


def size_bytes(value: float | int | str | Decimal) -> str:
    """Bytes as GiB from 1 GiB up, else MiB (the units of Kubernetes memory requests)."""
    number = float(value)
    if abs(number) >= GIB:
        return f"{number / GIB:,.2f} GiB"
    return f"{number / MIB:,.0f} MiB"


def number(value: float | int | str | Decimal) -> str:
    """A count or ratio without float noise: 3, 0.25, 1,523."""
    as_float = float(value)
    if as_float.is_integer():
        return f"{int(as_float):,}"
    return f"{as_float:,.3f}".rstrip("0").rstrip(".")
