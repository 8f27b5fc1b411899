"""With an external SHL viewer configured (``SHARING_VIEWER_URL``), the link and its QR open that
viewer instead of the service's own (``/viewer``), with the payload after ``#``, never in the
part a server sees."""

from __future__ import annotations

import base64
import io

import pytest
import zxingcpp
from PIL import Image

from api.core.settings import Settings
from tests.integration.sharing.conftest import share
from tests.support.fhir_samples import IPS

VIEWER = "https://viewer.example.vn/shl"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.replace(sharing_viewer_url=VIEWER)


async def test_a_configured_viewer_takes_the_payload_after_its_hash(
    client, owner_of, clock
) -> None:
    headers = await owner_of(IPS)
    created = await share(client, headers, clock)
    page, fragment = created["viewer_url"].split("#", 1)
    assert page == VIEWER
    assert fragment == created["shlink"]
    assert "shlink" not in page
    (symbol,) = zxingcpp.read_barcodes(Image.open(io.BytesIO(base64.b64decode(created["qr_png"]))))
    assert symbol.text == created["viewer_url"]
    assert symbol.ec_level == "M"


def test_the_viewer_must_be_an_http_url_without_a_fragment() -> None:
    for bad in ("javascript:alert(1)", "https://viewer.example.vn/#x", "ftp://x"):
        with pytest.raises(ValueError, match="SHARING_VIEWER_URL"):
            Settings.from_env({"SHARING_VIEWER_URL": bad})
