"""Render a pydantic Settings model as a Streamlit form, and its defaults as a readable table.

One widget per field, its description as the help text; number inputs take their min/max from
the field's ge/gt/le/lt constraints, so a negative savings floor cannot even be typed. Each
widget has a slot under it where `SettingsForm.show_errors` puts that field's validation error
(validation itself stays in app.services.engine_settings). Used by app/ui/engines.py (the Engines page).
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import annotated_types
import streamlit as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from app.ui.format import joined, md_escape, number, usd, yes_no

FLOAT_STEP = 0.01  # the widgets show two decimals
# "in USD per month per evicted pod, ..." -> "per month per evicted pod"
_USD_UNIT = re.compile(r"\bin USD( per [a-z ]+?)?(?=[,.;:)]|$)")
_LIST_SEPARATORS = re.compile(r"[\n,]")


_ACRONYMS = {"usd": "USD", "cpu": "CPU", "pdb": "PDB", "az": "AZ"}


def label_of(name: str) -> str:
    """A field's label: "savings_floor_monthly_usd" -> "Savings floor monthly USD"."""
    text = " ".join(_ACRONYMS.get(w, w) for w in name.split("_"))
    return text[:1].upper() + text[1:]


def _base_type(annotation: Any) -> Any:
    """`int | None` -> int; `list[str]` stays list."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else str
    return origin or annotation


def bounds(info: FieldInfo, kind: type) -> tuple[Any, Any]:
    """(min_value, max_value) for a number widget from the field's constraints (None = open).

    A widget bound is inclusive, so a strict bound moves in by one step (an int's 1, a float's
    displayed 0.01); the service still validates the exact rule.
    """
    step: Any = 1 if kind is int else FLOAT_STEP
    low: Any = None
    high: Any = None
    for meta in info.metadata:
        if isinstance(meta, annotated_types.Ge):
            low = meta.ge
        elif isinstance(meta, annotated_types.Gt):
            low = meta.gt + step
        elif isinstance(meta, annotated_types.Le):
            high = meta.le
        elif isinstance(meta, annotated_types.Lt):
            high = meta.lt - step
    cast = int if kind is int else float
    return (None if low is None else cast(low)), (None if high is None else round(cast(high), 6))


def field_widget(name: str, info: FieldInfo, current: Any, key: str) -> Any:
    """One input widget for a settings field; returns the raw value the user entered."""
    label = label_of(name)
    help_text = info.description or None
    kind = _base_type(info.annotation)
    if kind is bool:
        return st.toggle(label, value=bool(current), help=help_text, key=key)
    if kind is int:
        low, high = bounds(info, int)
        return st.number_input(label, value=int(current), min_value=low, max_value=high, step=1,
                               help=help_text, key=key)  # fmt: skip
    if kind in (float, Decimal):
        low, high = bounds(info, float)
        return st.number_input(label, value=float(current), min_value=low, max_value=high, step=FLOAT_STEP,
                               help=help_text, key=key, format="%.2f")  # fmt: skip
    if kind is dict or (isinstance(kind, type) and issubclass(kind, BaseModel)):
        return _json_widget(label, current, help_text, key)
    if kind in (list, tuple, set, frozenset):
        text = st.text_area(label, value="\n".join(map(str, current or [])), help=help_text, key=key,
                            placeholder="one per line (or separated by commas)")  # fmt: skip
        return [item.strip() for item in _LIST_SEPARATORS.split(text) if item.strip()]
    return st.text_input(label, value="" if current is None else str(current), help=help_text, key=key)


def _json_widget(label: str, current: Any, help_text: str | None, key: str) -> Any:
    """A nested policy or a per-namespace map as editable JSON; text that is not JSON is returned
    as typed, so validation names the field instead of the page failing."""
    dumped = current.model_dump(mode="json") if isinstance(current, BaseModel) else {
        k: v.model_dump(mode="json") if isinstance(v, BaseModel) else v for k, v in (current or {}).items()}
    text = st.text_area(label, value=json.dumps(dumped, indent=2, sort_keys=True), help=help_text, key=key,
                        placeholder="JSON")  # fmt: skip
    try:
        return json.loads(text) if text.strip() else {}
    except json.JSONDecodeError:
        return text


@dataclass
class SettingsForm:
    """The entered values and, per field, the empty slot under its widget."""

    values: dict[str, Any] = field(default_factory=dict)
    slots: dict[str, Any] = field(default_factory=dict)

    def show_errors(self, errors: Mapping[str, list[str]]) -> None:
        """Each field's messages under its own widget, naming the field."""
        for name, messages in errors.items():
            text = "; ".join(md_escape(m) for m in messages)
            slot = self.slots.get(name)
            (slot if slot is not None else st).error(f"**{md_escape(label_of(name))}** (`{name}`): {text}",
                                                     icon=":material/error:")  # fmt: skip


def settings_form(model: BaseModel, key_prefix: str) -> SettingsForm:
    """Widgets for every field of `model`, filled with its values."""
    form = SettingsForm()
    for name, info in type(model).model_fields.items():
        form.values[name] = field_widget(name, info, getattr(model, name), key=f"{key_prefix}.{name}")
        form.slots[name] = st.empty()
    return form


def widget_keys(model_type: type[BaseModel], key_prefix: str) -> list[str]:
    """The session-state keys of the form's widgets (cleared so a reset shows the defaults)."""
    return [f"{key_prefix}.{name}" for name in model_type.model_fields]


def value_text(value: Any, info: FieldInfo, name: str = "") -> str:
    """A setting's value as an analyst reads it: lists comma-separated, Yes/No, units from the
    description ("in USD per month" -> "$20.00 per month", "in percent" -> "10 %")."""
    description = info.description or ""
    if isinstance(value, bool):
        return yes_no(value)
    if isinstance(value, BaseModel):
        return ", ".join(f"{k} {value_text(v, info)}" for k, v in value.model_dump(mode="json").items())
    if isinstance(value, dict):
        return "none" if not value else "; ".join(f"{k}: {value_text(v, info)}" for k, v in value.items())
    if isinstance(value, list | tuple | set):
        return joined(value)
    if isinstance(value, int | float | Decimal):
        money = _USD_UNIT.search(description)
        if money or name.endswith("_usd"):
            return usd(Decimal(str(value))) + (money.group(1) or "" if money else "")
        if "percent" in description or name.endswith("_percent"):
            return f"{number(value)} %"
        return number(value)
    return "" if value is None else str(value)


def defaults_rows(model_type: type[BaseModel]) -> list[dict[str, str]]:
    """Setting, default (formatted) and meaning of every field, for the defaults table."""
    defaults = model_type()
    return [
        {"Setting": label_of(name), "Default": value_text(getattr(defaults, name), info, name),
         "Meaning": info.description or ""}  # fmt: skip
        for name, info in model_type.model_fields.items()
    ]
