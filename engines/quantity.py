"""Kubernetes resource quantity parsing ("250m", "1.5", "128Mi", "1G") into cores and bytes.

Used by the collectors (app) when they turn API objects into a Snapshot, and by the sandbox.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "k": Decimal(10**3),
    "K": Decimal(10**3),
    "M": Decimal(10**6),
    "G": Decimal(10**9),
    "T": Decimal(10**12),
    "P": Decimal(10**15),
    "E": Decimal(10**18),
}


class QuantityError(ValueError):
    """A resource quantity string that Kubernetes would not accept."""


def parse_quantity(value: str | int | float) -> Decimal:
    """Parse a Kubernetes quantity into its plain decimal value (cores for CPU, bytes for memory)."""
    if isinstance(value, int | float):
        return Decimal(str(value))
    text = str(value).strip()
    if not text:
        raise QuantityError("empty resource quantity")
    try:
        for suffix, factor in _BINARY.items():
            if text.endswith(suffix):
                return Decimal(text[: -len(suffix)]) * factor
        if text[-1] in _DECIMAL:
            return Decimal(text[:-1]) * _DECIMAL[text[-1]]
        return Decimal(text)
    except InvalidOperation as exc:
        raise QuantityError(f"invalid resource quantity {value!r}") from exc


def parse_cpu(value: str | int | float) -> float:
    """CPU quantity in cores ("250m" -> 0.25)."""
    return float(parse_quantity(value))


def parse_bytes(value: str | int | float) -> int:
    """Memory or storage quantity in bytes ("128Mi" -> 134217728)."""
    return int(parse_quantity(value))
