"""Text the UI shows: Markdown-safe user and error text, shortened source errors, evidence and
setting values with their units, and the Kubernetes name rules behind the Settings form."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from pydantic import BaseModel, ValidationError

from app.ui.evidence import evidence_tables, label, value_text
from app.ui.format import ZERO_WIDTH_SPACE, is_shortened, md_escape, short_error
from engines.validators import (
    NamespaceName,
    QualifiedName,
    dns1123_label_errors,
    qualified_name_errors,
)

# What Streamlit's Markdown would turn into something else: emoji/icon shortcodes, colour
# directives, emphasis, links, HTML and LaTeX.
_SHORTCODE = re.compile(r":[\w+-]+:|:[a-z]+\[|:material/")

HTML_500 = (
    "prometheus:http://prom:9090: HTTP 500 from http://prom:9090/api/v1/query_range: <!DOCTYPE html>\n"
    "<html><head><title>500 Internal Server Error</title><style>body { color: red; }</style></head>\n"
    "<body><h1>Internal Server Error</h1><p>The server encountered an internal error &amp; could not "
    "complete your request.</p>" + "<p>padding</p>" * 200 + "</body></html>"
)


def test_an_emoji_shortcode_in_an_error_is_shown_as_typed() -> None:
    escaped = md_escape("kubernetes:x: kubeconfig not found")
    assert not _SHORTCODE.search(escaped)
    assert escaped.replace(ZERO_WIDTH_SPACE, "").replace("\\", "") == "kubernetes:x: kubeconfig not found"


@pytest.mark.parametrize(
    "text",
    ["**bold** _it_ `code`", "[link](http://evil)", "<b>html</b> &amp;", ":red[alarm] :material/warning:",
     "cost $5 and $6", "# heading", "1. list", "| a | b |", ":+1: ok"],
)  # fmt: skip
def test_markdown_syntax_in_user_text_is_neutralised(text: str) -> None:
    escaped = md_escape(text)
    assert not _SHORTCODE.search(escaped)
    for special in "*_`[]()<>&$#|":
        assert special not in re.sub(r"\\.", "", escaped)  # every special character is escaped
    assert escaped.replace(ZERO_WIDTH_SPACE, "").replace("\\", "") == text


def test_an_html_error_page_is_shortened_to_its_status_and_first_line() -> None:
    short = short_error(HTML_500)
    assert short == (
        "prometheus:http://prom:9090: HTTP 500 from http://prom:9090/api/v1/query_range: 500 Internal Server Error"
    )
    assert is_shortened(HTML_500)


def test_a_multi_line_error_keeps_its_first_line_and_its_status() -> None:
    text = "kubernetes:prod: (503)\nReason: Service Unavailable\nHTTP response headers: {...}"
    assert short_error(text) == "kubernetes:prod: (503)"
    assert short_error("aws:us-east-1:ec2: throttled\nHTTP status 429 after 3 retries") == (
        "HTTP 429: aws:us-east-1:ec2: throttled"
    )


def test_a_short_one_line_error_is_left_as_it_is() -> None:
    assert short_error("kubernetes:prod-east: connection refused") == "kubernetes:prod-east: connection refused"
    assert not is_shortened("kubernetes:prod-east: connection refused")
    assert short_error("x" * 500, limit=50).endswith("…") and len(short_error("x" * 500, limit=50)) == 50


def test_evidence_labels_come_from_key_names_and_units_from_their_suffixes() -> None:
    assert label("requested_cpu_cores") == "Requested CPU"
    assert label("pdb_covered_pods") == "PDB covered pods"
    assert value_text("allocatable_memory_bytes", 8 * 2**30) == "8.00 GiB"
    assert value_text("requested_memory_bytes", 512 * 2**20) == "512 MiB"
    assert value_text("requested_cpu_cores", 1.5) == "1.5 cores"
    assert value_text("requested_cpu_percent", 45.2) == "45.2 %"
    assert value_text("cost_monthly_usd", "70.1") == "$70.10 / month"
    assert value_text("current_monthly_cost", Decimal("1401.6")) == "$1,401.60"
    assert value_text("destinations", ["ip-1", "ip-2"]) == "ip-1, ip-2"
    assert value_text("missing_requests", False) == "No"


def test_evidence_with_before_and_after_is_one_comparison_table() -> None:
    evidence = {
        "node": "ip-10-0-1-5", "moved_pods": 3,
        "before": {"instance_type": "m5.xlarge", "cost_monthly_usd": "140.16", "requested_cpu_percent": 31.0},
        "after": {"removed": True, "cost_monthly_usd": "0.00",
                  "destination_nodes": [{"node": "ip-10-0-1-6", "moved_pods": 3}]},
    }  # fmt: skip
    comparison, facts, destinations = evidence_tables(evidence)
    assert comparison.columns == ["Measure", "Before", "After"]
    assert ["Cost", "$140.16 / month", "$0.00 / month"] in comparison.rows
    assert ["Removed", "—", "Yes"] in comparison.rows
    assert facts.rows == [["Node", "ip-10-0-1-5"], ["Moved pods", "3"]]
    assert destinations.title == "Destination nodes (after)" and destinations.rows == [["ip-10-0-1-6", "3"]]


def test_flat_evidence_from_older_scans_is_one_measure_value_table() -> None:
    (table,) = evidence_tables({"allocatable_memory_bytes": 2**30, "current_monthly_usd": "70.08"})
    assert table.columns == ["Measure", "Value"]
    assert table.rows == [["Allocatable memory", "1.00 GiB"], ["Current", "$70.08 / month"]]


class _Names(BaseModel):
    namespaces: list[NamespaceName] = []
    key: QualifiedName = "example.com/key"


@pytest.mark.parametrize("name", ["kube-system", "a", "team-1", "0abc", "a" * 63])
def test_valid_namespace_names_pass(name: str) -> None:
    assert dns1123_label_errors(name) == []
    assert _Names(namespaces=[name]).namespaces == [name]


@pytest.mark.parametrize("name", ["Not A Valid Namespace!!", "Kube-System", "-lead", "trail-", "a.b", "", "a" * 64])
def test_names_the_api_server_refuses_are_not_namespace_names(name: str) -> None:
    assert dns1123_label_errors(name)
    with pytest.raises(ValidationError):
        _Names(namespaces=[name])


@pytest.mark.parametrize("key", ["cloudoptim.io/opt-out", "opt-out", "My.Key_1", "a/b", "k8s.io/" + "n" * 63])
def test_valid_label_and_annotation_keys_pass(key: str) -> None:
    assert qualified_name_errors(key) == []
    assert _Names(key=key).key == key


@pytest.mark.parametrize(
    "key", ["this is not a key!!", "/name", "prefix/", "a/b/c", "Upper.Case/x", "-x", "n" * 64, "x" * 254 + "/y"]
)
def test_keys_the_api_server_refuses_are_not_qualified_names(key: str) -> None:
    assert qualified_name_errors(key)
    with pytest.raises(ValidationError):
        _Names(key=key)
