"""Admin forms: an urlencoded body read under a small cap (the sign-in form is public)."""

from __future__ import annotations

from urllib.parse import parse_qsl

from starlette.requests import Request

from app.errors import BadRequestError, PayloadTooLargeError, UnsupportedMediaTypeError

MAX_FORM_BYTES = 64 * 1024
MAX_FIELDS = 50
FORM_TYPE = "application/x-www-form-urlencoded"


async def read_form(request: Request) -> dict[str, str]:
    """The form's fields (the query string's for GET); a repeated field keeps its last value.

    Read by hand rather than by Starlette's parser, which needs python-multipart and keeps an
    urlencoded body of any size in memory.
    """
    if request.method in ("GET", "HEAD"):
        return dict(request.query_params)
    media_type = request.headers.get("content-type", "").partition(";")[0].strip().lower()
    if media_type != FORM_TYPE:
        raise UnsupportedMediaTypeError(f"a form is sent as {FORM_TYPE}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM_BYTES:
            raise PayloadTooLargeError(f"a form has at most {MAX_FORM_BYTES} bytes")
    try:
        pairs = parse_qsl(
            body.decode("utf-8", errors="replace"),
            keep_blank_values=True,
            max_num_fields=MAX_FIELDS,
        )
    except ValueError as exc:
        raise BadRequestError(f"a form has at most {MAX_FIELDS} fields") from exc
    return dict(pairs)
