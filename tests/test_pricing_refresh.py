"""`cloudoptim data refresh`: valid downloads replace the copy, bad or missing ones keep it."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.pricing.files import shipped_dir
from app.pricing.refresh import parse_price_list_item, refresh_ondemand, refresh_spot_advisor

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture
def feed_server() -> Iterator[tuple[str, dict[str, bytes]]]:
    """A loopback HTTP server whose answers the test sets per path."""
    bodies: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = bodies.get(self.path)
            self.send_response(200 if body is not None else 500)
            self.end_headers()
            self.wfile.write(body or b"boom")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", bodies
    server.shutdown()


def test_a_valid_spot_advisor_download_replaces_the_copy(tmp_path: Path, feed_server) -> None:  # type: ignore[no-untyped-def]
    base, bodies = feed_server
    bodies["/feed.json"] = (shipped_dir() / "spot-advisor-data.json").read_bytes()
    outcome = refresh_spot_advisor(f"{base}/feed.json", tmp_path)
    assert outcome.updated and (tmp_path / "spot-advisor-data.json").exists()


@pytest.mark.parametrize("body", [b'{"ranges": [', b'{"hello": 1}', None])
def test_a_bad_or_failed_download_keeps_the_current_copy(tmp_path: Path, feed_server, body) -> None:  # type: ignore[no-untyped-def]
    base, bodies = feed_server
    if body is not None:
        bodies["/feed.json"] = body
    outcome = refresh_spot_advisor(f"{base}/feed.json", tmp_path)
    assert not outcome.updated
    assert outcome.message in ("download failed: HTTP 500 Internal Server Error",
                               "download refused: spot-advisor-data.json: not valid JSON (Expecting value at line 1)",
                               "download refused: spot-advisor-data.json: missing 'ranges' or 'spot_advisor'")  # fmt: skip
    assert not (tmp_path / "spot-advisor-data.json").exists()


def test_offline_spot_refresh_keeps_the_copy_and_says_why_in_a_few_words(tmp_path: Path) -> None:
    outcome = refresh_spot_advisor("http://127.0.0.1:9/feed.json", tmp_path, timeout=2)
    assert not outcome.updated and outcome.message == "download failed: connection refused"


def test_a_real_price_list_record_parses_to_region_type_and_price() -> None:
    item = (FIXTURES / "getproducts-m5-large.json").read_text()
    assert parse_price_list_item(item) == ("us-east-1", "m5.large", "0.096")


def test_price_list_prices_are_merged_into_the_on_demand_file(tmp_path: Path) -> None:
    item = (FIXTURES / "getproducts-m5-large.json").read_text().replace('"0.0960000000"', '"0.0970000000"')
    outcome = refresh_ondemand(["us-east-1"], tmp_path, lambda region: [item])
    assert outcome.updated
    text = (tmp_path / "ec2-ondemand-prices.csv").read_text()
    assert "\nus-east-1,m5.large,2,8,0,current,0.097," in text
    assert text.count("\n") == (shipped_dir() / "ec2-ondemand-prices.csv").read_text().count("\n")


def test_an_unreachable_price_list_api_keeps_the_copy(tmp_path: Path) -> None:
    def offline(region: str) -> list[str]:
        raise ConnectionError("no network")

    outcome = refresh_ondemand(["us-east-1"], tmp_path, offline)
    assert not outcome.updated and outcome.message == "Price List API failed: ConnectionError: no network"
    assert not (tmp_path / "ec2-ondemand-prices.csv").exists()
