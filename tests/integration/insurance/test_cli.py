"""``healthbook import-xml`` and ``healthbook insurance-cert`` as separate processes."""

from __future__ import annotations

from tests.integration.insurance.conftest import FACILITY
from tests.support.cli import run_cli_async
from tests.support.qd130 import build_episode_files
from tests.support.qd130_envelope import build_envelope, signing_identity


def envelope(*kinds: str, **overrides: object) -> bytes:
    return build_envelope(
        FACILITY, [list(build_episode_files(kind, **overrides).items()) for kind in kinds]
    )


async def test_import_xml_backfills_resumes_and_fails_on_rejections(
    settings, tmp_path, insurer_hospital
) -> None:
    folder = tmp_path / "xml" / "2026"
    folder.mkdir(parents=True)
    (folder / "a.xml").write_bytes(envelope("outpatient", "inpatient"))
    (folder / "b.xml").write_bytes(envelope("chronic"))
    (folder / "notes.txt").write_text("not an envelope")

    done = await run_cli_async(
        settings, "import-xml", str(tmp_path / "xml"), "--facility", FACILITY
    )
    assert done.returncode == 0, done.stderr + done.stdout
    assert "MA_LK LK-OUTPATIENT-0001: created" in done.stdout
    assert "created=3" in done.stdout
    assert "(2 file(s))" in done.stdout

    again = await run_cli_async(
        settings, "import-xml", str(folder / "a.xml"), str(folder / "b.xml"), "--facility", FACILITY
    )
    assert again.returncode == 0, again.stderr
    assert "unchanged=3" in again.stdout
    assert "created=0" in again.stdout

    bad = tmp_path / "bad.xml"
    bad.write_bytes(envelope("day_case", NGAY_VAO="20261300"))
    failed = await run_cli_async(settings, "import-xml", str(bad), "--facility", FACILITY)
    assert failed.returncode != 0
    assert "rejected" in failed.stdout
    assert "NGAY_VAO" in failed.stdout
    assert "1 episode(s) rejected" in failed.stderr


async def test_insurance_cert_commands(settings, tmp_path, insurer_hospital) -> None:
    identity = signing_identity()
    listed = await run_cli_async(settings, "insurance-cert", "list", "--facility", FACILITY)
    assert listed.returncode == 0, listed.stderr
    assert identity.sha256 in listed.stdout
    removed = await run_cli_async(
        settings, "insurance-cert", "remove", "--facility", FACILITY, identity.sha256
    )
    assert removed.returncode == 0, removed.stderr
    pem = tmp_path / "cert.pem"
    pem.write_text(identity.cert_pem)
    added = await run_cli_async(settings, "insurance-cert", "add", "--facility", FACILITY, str(pem))
    assert added.returncode == 0, added.stderr
    assert f"added: {identity.sha256}" in added.stdout
    unknown = await run_cli_async(settings, "insurance-cert", "list", "--facility", "NOPE")
    assert unknown.returncode != 0
