"""Formatting helpers for money and times shown in the UI."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal


def usd(amount: Decimal | None) -> str:
    if amount is None:
        return "—"
    return f"${amount:,.2f}"


def when(moment: datetime | None) -> str:
    if moment is None:
        return "never"
    return moment.strftime("%Y-%m-%d %H:%M UTC")
