"""The Settings page edits per-cluster engine settings, validated on save (AppTest): Kubernetes
names are checked, number inputs are bounded by the field constraints, the failing field shows
its own error, stored values can be reset, and the defaults read like the documentation."""

from __future__ import annotations

from importlib import resources
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.db.tables_recs import EngineSetting
from engines.binpack.settings import BinPackSettings
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")
KEY = "prod-east.binpack"


def _open(engine: Engine) -> AppTest:
    with Session(engine) as s:
        s.add(Cluster(name="prod-east", region="us-east-1"))
        s.commit()
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60))
    at.run()
    at.switch_page("../pages/settings.py").run()
    assert not at.exception
    return at


def _save(at: AppTest) -> None:
    at.button[0].click().run()
    assert not at.exception


def _stored(engine: Engine) -> list[EngineSetting]:
    with Session(engine) as s:
        return list(s.exec(select(EngineSetting)).all())


def _plain(markdown: str) -> str:
    """The text a reader sees: Markdown backslash escapes removed."""
    return markdown.replace("\\", "")


def _in_order(node: Any) -> list[Any]:
    """Every element of the page, depth first, in the order they are drawn."""
    out = []
    for _, child in sorted(getattr(node, "children", {}).items()):
        out.append(child)
        out.extend(_in_order(child))
    return out


def test_saving_a_changed_savings_floor_stores_it_for_the_cluster(engine: Engine) -> None:
    at = _open(engine)
    at.number_input(key=f"{KEY}.savings_floor_monthly_usd").set_value(75.0)
    _save(at)
    assert "Saved" in at.success[0].value
    (row,) = _stored(engine)
    assert row.engine == "binpack" and row.values["savings_floor_monthly_usd"] == "75.0"


def test_a_namespace_that_is_not_a_kubernetes_name_is_refused_under_its_field(engine: Engine) -> None:
    at = _open(engine)
    at.text_area(key=f"{KEY}.protected_namespaces").input("kube-system\nNot A Valid Namespace!!")
    _save(at)
    assert not at.success
    field_error = next(_plain(e.value) for e in at.error if "protected_namespaces" in _plain(e.value))
    assert "Protected namespaces" in field_error and "item 2" in field_error and "RFC 1123 label" in field_error
    assert _stored(engine) == []


def test_an_annotation_key_that_is_not_a_qualified_name_is_refused(engine: Engine) -> None:
    at = _open(engine)
    at.text_input(key=f"{KEY}.opt_out_annotation").input("this is not a key!!")
    _save(at)
    assert not at.success
    assert any("opt_out_annotation" in _plain(e.value) and "name part must consist" in _plain(e.value) for e in at.error)
    assert _stored(engine) == []


def test_the_error_is_drawn_right_under_the_failing_widget(engine: Engine) -> None:
    at = _open(engine)
    at.text_input(key=f"{KEY}.opt_out_annotation").input("/no-prefix")
    _save(at)
    elements = _in_order(at.main)
    widget = next(i for i, e in enumerate(elements) if getattr(e, "key", None) == f"{KEY}.opt_out_annotation")
    after = [e for e in elements[widget + 1 :] if getattr(e, "type", "") not in ("", "flex_container", "empty")]
    assert after[0].type == "error" and "prefix part must be non-empty" in _plain(after[0].value)


def test_number_inputs_take_their_bounds_from_the_field_constraints(engine: Engine) -> None:
    at = _open(engine)
    floor = at.number_input(key=f"{KEY}.savings_floor_monthly_usd")
    effort = at.number_input(key=f"{KEY}.search_effort")
    headroom = at.number_input(key=f"{KEY}.headroom_percent")
    assert floor.min == 0 and effort.min == 1 and effort.max == 16
    assert headroom.min == 0 and headroom.max is not None and headroom.max < 100  # lt=100: 100 itself is refused
    floor.set_value(-5.0)
    _save(at)
    assert _stored(engine)[0].values["savings_floor_monthly_usd"] == "20.0"  # the negative never got in


def test_reset_to_defaults_asks_first_then_deletes_the_stored_values(engine: Engine) -> None:
    at = _open(engine)
    at.text_area(key=f"{KEY}.protected_namespaces").input("kube-system\nmonitoring")
    _save(at)
    assert len(_stored(engine)) == 1
    at.button(key="settings_reset").click().run()
    assert "Delete the stored" in at.warning[0].value and len(_stored(engine)) == 1
    at.button(key="settings_reset_no").click().run()
    assert len(_stored(engine)) == 1
    at.button(key="settings_reset").click().run()
    at.button(key="settings_reset_yes").click().run()
    assert not at.exception and _stored(engine) == []
    assert "Reset" in at.success[0].value
    assert at.text_area(key=f"{KEY}.protected_namespaces").value == "kube-system"  # the form shows the defaults


def test_reset_is_disabled_while_nothing_is_stored(engine: Engine) -> None:
    at = _open(engine)
    assert at.button(key="settings_reset").disabled


def test_the_defaults_table_reads_like_the_documentation(engine: Engine) -> None:
    at = _open(engine)
    table = at.table[0].value
    defaults = dict(zip(table["Setting"], table["Default"], strict=True))
    assert defaults["Protected namespaces"] == "kube\\-system"  # escaped for Markdown, shown as kube-system
    assert defaults["Critical priority classes"] == "system\\-cluster\\-critical, system\\-node\\-critical"
    assert defaults["Allow replace node type"] == "Yes" and "Consider spot" not in defaults
    assert defaults["Savings floor monthly USD"] == "\\$20\\.00 per month"
    assert defaults["Headroom percent"] == "0 %"
    meanings = list(table["Meaning"])
    full = BinPackSettings.model_fields["search_effort"].description or ""
    assert any(m.replace("\\", "") == full for m in meanings)  # the whole text, not cut off


def test_a_rightsizing_namespace_policy_is_edited_as_json_and_stored_and_bad_json_is_refused(engine: Engine) -> None:
    at = _open(engine)
    at.selectbox(key="settings_engine").set_value("rightsizing").run()
    key = "prod-east.rightsizing.namespace_policies"
    assert at.text_area(key=key).value == "{}"
    assert '"cpu_percentile"' in at.text_area(key="prod-east.rightsizing.default_policy").value
    at.text_area(key=key).input('{"staging": {"cpu_percentile": 90, "memory_buffer": 0.25}}')
    _save(at)
    assert not at.error, [e.value for e in at.error]
    assert "Saved" in at.success[0].value
    (row,) = _stored(engine)
    assert row.engine == "rightsizing"
    assert row.values["namespace_policies"]["staging"]["cpu_percentile"] in (90, 90.0, "90", "90.0")
    at.text_area(key=key).input("{not json")
    _save(at)
    assert any("namespace_policies" in e.value for e in at.error)


def test_every_engine_s_default_settings_round_trip_through_the_form_unchanged(engine: Engine) -> None:
    from engines.registry import default_registry

    at = _open(engine)
    for name in default_registry().names():
        at.selectbox(key="settings_engine").set_value(name).run()
        _save(at)
        assert not at.error, (name, [e.value for e in at.error])
    registry = default_registry()
    stored = {row.engine: row.values for row in _stored(engine)}
    assert set(stored) == set(registry.names())
    for name, values in stored.items():  # what the form showed and saved is the defaults again
        settings_type = registry.get(name).Settings
        assert settings_type.model_validate(values) == settings_type(), name
