"""The Engines page's upload section (app.ui.engine_uploads) in AppTest: admins upload and see why
an upload was refused or failed, and enable only what passed; viewers see the list, no controls."""

from __future__ import annotations

from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from app.services.engine_uploads import list_uploads
from app.ui.format import md_escape
from tests.ui_session import sign_in_as
from tests.uploads.conftest import module, validated


def _section() -> None:
    from app.ui.context import get_engine
    from app.ui.engine_uploads import upload_section

    upload_section(get_engine())


def _app(role: str) -> AppTest:
    return sign_in_as(AppTest.from_function(_section, default_timeout=60), role).run()


def _upload(at: AppTest, name: str, data: bytes) -> AppTest:
    at.file_uploader(key="engine_upload_file").set_value((name, data, "text/x-python"))
    return at.button[0].click().run()  # the form's submit button


def test_an_admin_sees_the_reason_when_an_upload_is_refused(engine: Engine) -> None:
    at = _upload(_app("admin"), "empty.py", b"")
    assert not at.exception
    assert "Upload refused, nothing was stored" in at.error[0].value and "is empty" in at.error[0].value
    assert list_uploads(engine) == []


def test_an_admin_sees_a_syntax_error_with_its_line_and_the_failed_upload_in_the_list(engine: Engine) -> None:
    at = _upload(_app("admin"), "broken.py", b"def x(:\n")
    assert not at.exception
    assert "does not parse" in at.error[0].value and "line 1" in at.error[0].value
    at.run()
    assert "broken: failed" in at.expander[0].label
    assert at.button(key=f"engine_upload_enable_{list_uploads(engine)[0].id}").disabled


def test_an_admin_uploads_a_valid_module_and_enables_it_once_it_passed(engine: Engine) -> None:
    at = _upload(_app("admin"), "underused_nodes.py", module("modules/underused_nodes.py"))
    assert "stored" in at.success[0].value and "validates it in a sandbox" in at.success[0].value
    assert "pending" in at.expander[0].label
    from app.pricing import load_price_book
    from app.services.engine_uploads import validate_pending
    from tests.uploads.conftest import FAST

    validate_pending(engine, load_price_book(), limits=FAST)
    at.run()
    upload_id = list_uploads(engine)[0].id
    assert "passed" in at.expander[0].label
    assert any("Network isolated" in m.value for m in at.markdown)
    at.button(key=f"engine_upload_enable_{upload_id}").click().run()
    assert not at.exception and "is enabled" in at.success[0].value
    assert list_uploads(engine)[0].enabled


def test_a_viewer_sees_the_uploads_but_no_upload_form_and_no_enable_button(engine: Engine) -> None:
    validated(engine, "modules/underused_nodes.py")
    at = _app("viewer")
    assert not at.exception
    assert len(at.file_uploader) == 0 and len(at.button) == 0
    assert md_escape("underused-nodes: passed") in at.expander[0].label  # Markdown source of the label
