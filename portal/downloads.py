"""File downloads with a name the server chooses: always an attachment, never rendered by the browser.

    response = attachment_response(archive_bytes, f"tilbakemelding-{report.pk}.zip", "application/zip")
    audit.record(request, "download", submitter=submitter, object_type="feedback_report",
                 object_id=report.pk, filename=response.filename)

Give the view a rate limit too: @rate_limit("download", key=ratelimit.by_user).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import IO

from django.http import FileResponse, HttpResponse, StreamingHttpResponse
from django.utils.http import content_disposition_header

# Letters (any script), digits, and . _ - and space; everything else becomes "_".
UNSAFE = re.compile(r"[^\w.\- ]", re.UNICODE)
MAX_NAME = 120


def safe_filename(filename: str) -> str:
    """A file name without paths, control characters, quotes or leading dots."""
    name = unicodedata.normalize("NFC", filename).replace("\\", "/").rsplit("/", 1)[-1]
    name = UNSAFE.sub("_", name).strip(" .")
    stem, dot, extension = name.rpartition(".")
    if dot and len(name) > MAX_NAME:
        name = stem[: MAX_NAME - len(extension) - 1] + "." + extension
    return name[:MAX_NAME] or "fil"


def attachment_response(
    content: bytes | IO[bytes] | Iterable[bytes], filename: str, content_type: str
) -> HttpResponse | StreamingHttpResponse:
    """A download: `Content-Disposition: attachment` with a sanitised (and RFC 6266-encoded) name,
    the given type (never sniffed), and no caching by the browser or proxies.

    `content` is bytes, an open binary file (streamed, closed at the end) or an iterable of chunks.
    """
    name = safe_filename(filename)
    response: HttpResponse | StreamingHttpResponse
    if isinstance(content, bytes | bytearray):
        response = HttpResponse(bytes(content), content_type=content_type)
    elif hasattr(content, "read"):
        response = FileResponse(content, content_type=content_type)  # type: ignore[arg-type]
    else:
        response = StreamingHttpResponse(content, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "no-store, private"
    # Nothing in a downloaded file may run or load anything if a browser opens it anyway.
    response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.filename = name  # type: ignore[union-attr]
    return response
