"""The absolute ``type`` URIs of problem documents, as the app under test writes them."""

from __future__ import annotations

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
"""``PUBLIC_BASE_URL`` of the apps the tests build (the settings' default)."""


def problem_uri(slug: str, base_url: str = DEFAULT_BASE_URL) -> str:
    """``{PUBLIC_BASE_URL}/problems/{slug}``: the ``type`` of a problem document."""
    return f"{base_url.rstrip('/')}/problems/{slug}"
