"""Photos uploaded by members (a report's 随手拍 picture): checked, cleaned and stored in ``points.photos``.

``accept_photo`` trusts nothing the client says about the bytes: Pillow decodes them, and only a real JPEG, PNG
or WebP is taken (a text file sent as image/jpeg is refused; a PNG sent as image/jpeg is a PNG). It refuses
uploads above ``MAX_UPLOAD_BYTES`` and images with more than ``MAX_PIXELS`` pixels (a decompression bomb is
small on the wire and huge in memory), turns the picture upright by its EXIF orientation, downsizes it to
``MAX_SIDE`` pixels on its long side, and re-encodes it in its own format with no metadata at all: no EXIF (so no
GPS position of the rider's phone), no text chunks, no ICC profile. What is stored is only those new bytes.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from PIL import Image, ImageOps, UnidentifiedImageError

import ledger
from points.auth.errors import InvalidRequest, NotFound
from points.field_problems import field_problem

MAX_UPLOAD_BYTES = 5 * 1024 * 1024
MAX_STORED_BYTES = 8 * 1024 * 1024  # the table's CHECK
MAX_PIXELS = 50_000_000  # a 50-megapixel phone camera; more is refused before it is decoded
MAX_SIDE = 2048
JPEG_QUALITY = 85
FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
MEDIA_TYPES = tuple(FORMATS.values())


@dataclass(frozen=True, slots=True)
class Photo:
    media_type: str
    width: int
    height: int
    data: bytes


@dataclass(frozen=True, slots=True)
class StoredPhoto:
    id: int
    uploaded_by_member_id: int
    media_type: str
    width: int
    height: int
    data: bytes
    created_at: datetime


def _refused(message: str, code: str = "invalid", **params: Any) -> InvalidRequest:
    return InvalidRequest(message, errors=[field_problem("photo", code, message=message, **params)])


def accept_photo(data: bytes) -> Photo:
    """The upload as a clean picture to store, or InvalidRequest saying why not."""
    if not data:
        raise _refused("the photo is empty: send the image's bytes as the body", "required")
    if len(data) > MAX_UPLOAD_BYTES:
        raise _refused(f"the photo is larger than {MAX_UPLOAD_BYTES} bytes", "too_large", max=MAX_UPLOAD_BYTES)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            opened = Image.open(io.BytesIO(data), formats=list(FORMATS))
            fmt = opened.format or ""
            width, height = opened.size
            if width * height > MAX_PIXELS:
                raise _refused(f"the photo has more than {MAX_PIXELS} pixels", "too_large", max=MAX_PIXELS)
            if fmt == "JPEG":
                opened.draft("RGB", (MAX_SIDE, MAX_SIDE))  # decode at a reduced scale: far less memory
            opened.load()
            image = ImageOps.exif_transpose(opened)
        except InvalidRequest:
            raise
        except UnidentifiedImageError:
            raise _refused("the photo is not a JPEG, PNG or WebP image") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise _refused(f"the photo has more than {MAX_PIXELS} pixels", "too_large", max=MAX_PIXELS) from None
        except (OSError, ValueError, SyntaxError, EOFError) as exc:  # truncated or corrupt
            raise _refused(f"the photo could not be read: {exc}") from None
    if fmt not in FORMATS:
        raise _refused("the photo is not a JPEG, PNG or WebP image")
    image = _normalized_mode(image, fmt)
    image.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS)
    image.info = {}  # nothing of the original's metadata is written back
    out = io.BytesIO()
    if fmt == "JPEG":
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    elif fmt == "PNG":
        image.save(out, "PNG", optimize=True)
    else:
        image.save(out, "WEBP", quality=JPEG_QUALITY)
    encoded = out.getvalue()
    if len(encoded) > MAX_STORED_BYTES:
        raise _refused(f"the photo is still larger than {MAX_STORED_BYTES} bytes", "too_large", max=MAX_STORED_BYTES)
    return Photo(FORMATS[fmt], image.width, image.height, encoded)


def _normalized_mode(image: Image.Image, fmt: str) -> Image.Image:
    """A mode the format writes as it is, keeping transparency (which lives in the info that is dropped)."""
    transparent = "transparency" in image.info or image.mode in ("RGBA", "LA", "PA")
    if fmt == "JPEG":
        return image if image.mode in ("RGB", "L") else image.convert("RGB")
    if transparent:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


async def store_photo(conn: ledger.Connection, community_id: int, member_id: int, photo: Photo) -> int:
    await ledger.enter(conn, community_id)
    photo_id: int = await conn.fetchval(
        "INSERT INTO points.photos (community_id, uploaded_by_member_id, media_type, width, height, data)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
        community_id,
        member_id,
        photo.media_type,
        photo.width,
        photo.height,
        photo.data,
    )
    return photo_id


async def get_photo(conn: ledger.Connection, community_id: int, photo_id: int) -> StoredPhoto:
    await ledger.enter(conn, community_id)
    row = await conn.fetchrow(
        "SELECT id, uploaded_by_member_id, media_type, width, height, data, created_at FROM points.photos"
        " WHERE id = $1 AND community_id = $2",
        photo_id,
        community_id,
    )
    if row is None:
        raise NotFound(f"no photo {photo_id} in this community", photo_id=photo_id)
    return StoredPhoto(**dict(row))
