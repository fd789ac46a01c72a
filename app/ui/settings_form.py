"""Render a pydantic Settings model as a Streamlit form: one widget per field, its description
as the help text. Used by the Settings page for engine settings; validation stays in the service.
"""

from __future__ import annotations

import types
import typing
from decimal import Decimal
from typing import Any

import streamlit as st
from pydantic import BaseModel
from pydantic.fields import FieldInfo


def _base_type(annotation: Any) -> Any:
    """`int | None` -> int; `list[str]` stays list."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return _base_type(args[0]) if len(args) == 1 else str
    return origin or annotation


def field_widget(name: str, info: FieldInfo, current: Any, key: str) -> Any:
    """One input widget for a settings field; returns the raw value the user entered."""
    label = name.replace("_", " ").capitalize()
    help_text = info.description or None
    kind = _base_type(info.annotation)
    if kind is bool:
        return st.toggle(label, value=bool(current), help=help_text, key=key)
    if kind is int:
        return st.number_input(label, value=int(current), step=1, help=help_text, key=key)
    if kind in (float, Decimal):
        return st.number_input(label, value=float(current), help=help_text, key=key, format="%.2f")
    if kind is list:
        text = st.text_area(label, value="\n".join(map(str, current or [])), help=help_text, key=key)
        return [line.strip() for line in text.splitlines() if line.strip()]
    return st.text_input(label, value="" if current is None else str(current), help=help_text, key=key)


def settings_form(model: BaseModel, key_prefix: str) -> dict[str, Any]:
    """Widgets for every field of `model`, filled with its values; returns the entered values."""
    values: dict[str, Any] = {}
    for name, info in type(model).model_fields.items():
        values[name] = field_widget(name, info, getattr(model, name), key=f"{key_prefix}.{name}")
    return values
