"""AES-256 encrypted zip archives (WinZip AES, AE-2) with pyzipper; never ZipCrypto.

Members that are already compressed (an xlsx is a zip itself) are stored; text (HTML) is deflated.
Windows Explorer cannot open WinZip-AES archives: recipients need 7-Zip or WinZip.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import BinaryIO

import pyzipper

# Names inside and outside the archive are plain ASCII without folders: no personal data, no path tricks.
SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,120}$")
AES_EXTRA_ID = 0x9901


@dataclass(frozen=True)
class ArchiveMember:
    name: str
    data: bytes
    compress: bool = True


def check_name(name: str) -> str:
    if not SAFE_NAME.match(name) or ".." in name:
        raise ValueError(f"Unsafe archive member name {name!r}")
    return name


def write_encrypted_zip(
    target: BinaryIO, members: Sequence[ArchiveMember], password: str, *, when: time.struct_time | None = None
) -> None:
    """Write an AES-256 (AE-2) zip of `members` to `target`, encrypted with `password`."""
    if not password:
        raise ValueError("An archive needs a password.")
    if not members:
        raise ValueError("An archive needs at least one member.")
    date_time = (when or time.localtime())[:6]
    with pyzipper.AESZipFile(target, "w", compression=pyzipper.ZIP_DEFLATED, encryption=pyzipper.WZ_AES) as archive:
        archive.setpassword(password.encode("utf-8"))
        archive.setencryption(pyzipper.WZ_AES, nbits=256)
        for member in members:
            # The AES file class has its own ZipInfo subclass; writestr only accepts that one.
            info = archive.zipinfo_cls(check_name(member.name), date_time=date_time)
            info.compress_type = pyzipper.ZIP_DEFLATED if member.compress else pyzipper.ZIP_STORED
            info.external_attr = 0o600 << 16
            archive.writestr(info, member.data)


def encrypted_zip_bytes(members: Sequence[ArchiveMember], password: str) -> bytes:
    buffer = io.BytesIO()
    write_encrypted_zip(buffer, members, password)
    return buffer.getvalue()


def read_encrypted_zip(source: BinaryIO | str, password: str) -> dict[str, bytes]:
    """Every member's content by name; raises RuntimeError on a wrong password."""
    with pyzipper.AESZipFile(source) as archive:
        archive.setpassword(password.encode("utf-8"))
        return {name: archive.read(name) for name in archive.namelist()}


@dataclass(frozen=True)
class MemberEncryption:
    name: str
    compress_type: int  # of the stored data: 99 (AES) wraps the real method
    actual_compress_type: int
    vendor_version: int  # 1 = AE-1, 2 = AE-2
    strength: int  # 1 = 128, 2 = 192, 3 = 256 bits
    encrypted: bool


def inspect_encryption(source: BinaryIO | str) -> list[MemberEncryption]:
    """How each member is encrypted, read from the central directory (for tests and audits)."""
    result = []
    with pyzipper.ZipFile(source) as archive:
        for info in archive.infolist():
            vendor_version = strength = 0
            actual = info.compress_type
            extra = info.extra
            while len(extra) >= 4:
                header_id = int.from_bytes(extra[0:2], "little")
                size = int.from_bytes(extra[2:4], "little")
                body = extra[4 : 4 + size]
                if header_id == AES_EXTRA_ID and size >= 7:
                    vendor_version = int.from_bytes(body[0:2], "little")
                    strength = body[4]
                    actual = int.from_bytes(body[5:7], "little")
                extra = extra[4 + size :]
            result.append(
                MemberEncryption(
                    name=info.filename,
                    compress_type=info.compress_type,
                    actual_compress_type=actual,
                    vendor_version=vendor_version,
                    strength=strength,
                    encrypted=bool(info.flag_bits & 0x1),
                )
            )
    return result
