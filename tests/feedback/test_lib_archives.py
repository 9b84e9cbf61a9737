"""The AES archive writer, checked with pyzipper and with 7-Zip itself."""

from __future__ import annotations

import io
import shutil
import subprocess
import zipfile

import pytest

from feedback.lib.archives import (
    ArchiveMember,
    encrypted_zip_bytes,
    inspect_encryption,
    read_encrypted_zip,
    write_encrypted_zip,
)

PASSWORD = "3x7KqWm4aTpYh9cRdEf6gHjN"
XLSX = b"PK\x03\x04" + bytes(range(256)) * 40
HTML = b"<!DOCTYPE html><p>Feil i posten</p>" * 200


def _archive() -> bytes:
    return encrypted_zip_bytes(
        [ArchiveMember("aktivitet-KPR-2025.xlsx", XLSX, compress=False), ArchiveMember("rapport.html", HTML)],
        PASSWORD,
    )


def test_members_are_aes_256_ae2_with_xlsx_stored_and_html_deflated():
    members = {m.name: m for m in inspect_encryption(io.BytesIO(_archive()))}
    for member in members.values():
        assert member.encrypted
        assert member.compress_type == 99  # WinZip AES, never ZipCrypto
        assert member.vendor_version == 2  # AE-2
        assert member.strength == 3  # 256 bits
    assert members["aktivitet-KPR-2025.xlsx"].actual_compress_type == zipfile.ZIP_STORED
    assert members["rapport.html"].actual_compress_type == zipfile.ZIP_DEFLATED


def test_round_trip_with_the_password_and_not_without():
    data = _archive()
    assert read_encrypted_zip(io.BytesIO(data), PASSWORD) == {"aktivitet-KPR-2025.xlsx": XLSX, "rapport.html": HTML}
    with pytest.raises(RuntimeError):
        read_encrypted_zip(io.BytesIO(data), "wrong-password-wrong-password")


def test_plain_zipfile_cannot_read_the_content():
    with zipfile.ZipFile(io.BytesIO(_archive())) as archive, pytest.raises((RuntimeError, NotImplementedError)):
        archive.read("rapport.html")


@pytest.mark.skipif(shutil.which("7z") is None, reason="7-Zip (p7zip-full) is not installed")
def test_7zip_opens_it_with_the_password_and_refuses_without(tmp_path):
    path = tmp_path / "tilbakemelding.zip"
    path.write_bytes(_archive())
    out = tmp_path / "out"
    ok = subprocess.run(["7z", "x", f"-p{PASSWORD}", f"-o{out}", str(path)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert (out / "aktivitet-KPR-2025.xlsx").read_bytes() == XLSX
    assert (out / "rapport.html").read_bytes() == HTML
    wrong = tmp_path / "wrong"
    bad = subprocess.run(["7z", "x", "-pnot-the-password", f"-o{wrong}", str(path)], capture_output=True, text=True)
    assert bad.returncode != 0
    assert "Wrong password" in bad.stdout + bad.stderr
    listing = subprocess.run(["7z", "l", "-slt", f"-p{PASSWORD}", str(path)], capture_output=True, text=True)
    assert "AES-256" in listing.stdout
    assert "ZipCrypto" not in listing.stdout


@pytest.mark.parametrize("name", ["../evil.html", "a/b.html", "kari nordmann.html", "", ".hidden"])
def test_unsafe_member_names_are_refused(name):
    with pytest.raises(ValueError):
        write_encrypted_zip(io.BytesIO(), [ArchiveMember(name, b"x")], PASSWORD)


def test_an_empty_password_is_refused():
    with pytest.raises(ValueError):
        write_encrypted_zip(io.BytesIO(), [ArchiveMember("a.html", b"x")], "")
