"""The Engines page (AppTest): per-cluster engine settings validated on save (Kubernetes names are
checked, number inputs are bounded by the field constraints, the failing field shows its own
error, stored values can be reset, the defaults read like the documentation), two admins editing
the same settings, switching an engine off for the next scan, and what a viewer may see."""

from __future__ import annotations

from importlib import resources
from typing import Any

import pytest
from sqlalchemy import Engine
from sqlmodel import Session, select
from streamlit.testing.v1 import AppTest

from app.db.models import Cluster
from app.db.states import Role
from app.db.tables_app import EngineToggle
from app.db.tables_recs import AuditEvent, EngineSetting
from app.pricing import load_price_book
from app.services.access import AccessDenied, Principal
from app.services.engine_settings import save_engine_settings
from app.services.engine_toggles import set_engine_enabled
from app.services.scans import scan_and_store
from engines.binpack.settings import BinPackSettings
from engines.registry import default_registry
from tests.framework.estate import wasteful_snapshot
from tests.ui_session import sign_in_as

ENTRY = str(resources.files("app") / "streamlit_app.py")
KEY = "prod-east.binpack"


def _cluster(engine: Engine) -> int:
    with Session(engine) as s:
        cluster = Cluster(name="prod-east", region="us-east-1")
        s.add(cluster)
        s.commit()
        assert cluster.id is not None
        return cluster.id


def _open(engine: Engine, role: str = "admin", name: str | None = None, *, seed: bool = True) -> AppTest:
    if seed:
        _cluster(engine)
    at = sign_in_as(AppTest.from_file(ENTRY, default_timeout=60), role, name)
    at.run()
    at.switch_page("../pages/engines.py").run()
    assert not at.exception
    return at


def _save(at: AppTest) -> None:
    next(b for b in at.button if b.label == "Save settings").click().run()
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
    at.button(key="engines_reset").click().run()
    assert "Delete the stored" in at.warning[0].value and len(_stored(engine)) == 1
    at.button(key="engines_reset_no").click().run()
    assert len(_stored(engine)) == 1
    at.button(key="engines_reset").click().run()
    at.button(key="engines_reset_yes").click().run()
    assert not at.exception and _stored(engine) == []
    assert "Reset" in at.success[0].value
    assert at.text_area(key=f"{KEY}.protected_namespaces").value == "kube-system"  # the form shows the defaults


def test_reset_is_disabled_while_nothing_is_stored(engine: Engine) -> None:
    at = _open(engine)
    assert at.button(key="engines_reset").disabled


def test_the_defaults_table_reads_like_the_documentation(engine: Engine) -> None:
    at = _open(engine)
    table = next(t.value for t in at.table if "Default" in t.value.columns)
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
    at.selectbox(key="engines_engine").set_value("rightsizing").run()
    key = "prod-east.rightsizing.namespace_policies"
    assert at.text_area(key=key).value == "{}"
    assert '"cpu_percentile"' in (at.text_area(key="prod-east.rightsizing.default_policy").value or "")
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
    at = _open(engine)
    for name in default_registry().names():
        at.selectbox(key="engines_engine").set_value(name).run()
        _save(at)
        assert not at.error, (name, [e.value for e in at.error])
    registry = default_registry()
    stored = {row.engine: row.values for row in _stored(engine)}
    assert set(stored) == set(registry.names())
    for name, values in stored.items():  # what the form showed and saved is the defaults again
        settings_type = registry.get(name).Settings
        assert settings_type.model_validate(values) == settings_type(), name


def test_two_admins_editing_the_same_settings_the_second_sees_a_conflict_and_keeps_his_values(engine: Engine) -> None:
    first = _open(engine, "admin", "alice")
    second = _open(engine, "admin", "bob", seed=False)
    first.number_input(key=f"{KEY}.savings_floor_monthly_usd").set_value(75.0)
    _save(first)
    second.number_input(key=f"{KEY}.savings_floor_monthly_usd").set_value(99.0)
    _save(second)
    assert not second.success
    conflict = next(_plain(e.value) for e in second.error if "Not saved" in e.value)
    assert "changed by alice" in conflict and "still in the form" in conflict
    assert second.number_input(key=f"{KEY}.savings_floor_monthly_usd").value == 99.0  # nothing lost
    (row,) = _stored(engine)
    assert row.values["savings_floor_monthly_usd"] == "75.0" and row.updated_by == "alice" and row.version == 1
    second.button(key="engines_reload").click().run()
    assert second.number_input(key=f"{KEY}.savings_floor_monthly_usd").value == 75.0  # reloaded on request
    second.number_input(key=f"{KEY}.savings_floor_monthly_usd").set_value(99.0)
    _save(second)  # built from version 1 now: saved
    assert "Saved" in second.success[0].value
    assert _stored(engine)[0].values["savings_floor_monthly_usd"] == "99.0"


def test_an_engine_switched_off_on_the_page_is_skipped_by_the_next_scan(engine: Engine) -> None:
    from engines.registry import default_registry
    at = _open(engine)
    toggle = at.toggle(key="engine_on.prod-east.binpack")
    assert toggle.value is True
    toggle.set_value(False).run()
    assert not at.exception and "binpack disabled" in at.success[0].value
    with Session(engine) as s:
        toggle_row = s.exec(select(EngineToggle)).one()
        audit = s.exec(select(AuditEvent).where(AuditEvent.action == "engine disabled")).one()
        cluster_id = s.exec(select(Cluster.id)).one()
    assert (toggle_row.engine, toggle_row.enabled, toggle_row.updated_by, audit.actor) == ("binpack", False, "admin", "admin")
    outcome = scan_and_store(engine, wasteful_snapshot(), default_registry(), load_price_book(), cluster_id=cluster_id)
    ran = [o.engine for o in outcome.outcomes]
    assert "binpack" not in ran and "rightsizing" in ran
    at.run()
    table = at.dataframe[0].value
    row = table[table["Key"] == "binpack"].iloc[0]
    assert not bool(row["Enabled"])
    ran_row = table[table["Key"] == "rightsizing"].iloc[0]
    assert ran_row["Last scan"] != "never"


def test_a_viewer_sees_the_values_but_no_switch_no_form_and_no_reset(engine: Engine) -> None:
    at = _open(engine, "viewer")
    assert not at.toggle and not at.number_input and not at.text_area
    assert not [b for b in at.button if b.label in ("Save settings", "Reset to defaults")]
    values = next(t.value for t in at.table if "Value" in t.value.columns)
    assert dict(zip(values["Setting"], values["Value"], strict=True))["Savings floor monthly USD"] == "\\$20\\.00 per month"
    assert "Only admins change engine settings" in " ".join(c.value for c in at.caption)


def test_an_analyst_s_crafted_settings_save_is_refused_by_the_service(engine: Engine) -> None:
    cluster_id = _cluster(engine)
    analyst = Principal("ana", Role.ANALYST)
    with pytest.raises(AccessDenied):
        save_engine_settings(engine, cluster_id, default_registry().get("binpack"), {}, actor=analyst)
    with pytest.raises(AccessDenied):
        set_engine_enabled(engine, cluster_id, "binpack", False, actor=analyst)
    assert _stored(engine) == []


def test_coming_back_to_the_page_after_someone_else_saved_shows_their_values_and_saves_without_conflict(
    engine: Engine,
) -> None:
    first = _open(engine, "admin", "alice")
    second = _open(engine, "admin", "bob", seed=False)
    second.switch_page("../pages/overview.py").run()
    first.number_input(key=f"{KEY}.savings_floor_monthly_usd").set_value(75.0)
    _save(first)
    second.switch_page("../pages/engines.py").run()
    floor = second.number_input(key=f"{KEY}.savings_floor_monthly_usd")
    assert floor.value == 75.0  # rebuilt from what alice stored
    floor.set_value(80.0)
    _save(second)
    assert "Saved" in second.success[0].value and _stored(engine)[0].values["savings_floor_monthly_usd"] == "80.0"
