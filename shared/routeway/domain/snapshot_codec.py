"""A snapshot's bytes on disk and in S3: gzip-compressed JSON.

Fields at their default are left out when encoding (a quarter less JSON for pydantic to walk on every
load); they come back as the same defaults when decoding, so snapshots written with every field still
decode to the same Snapshot.
"""

from __future__ import annotations

import gzip
import zlib

import orjson

from routeway.domain.catalog import Snapshot


def encode_snapshot(snapshot: Snapshot) -> bytes:
    document = snapshot.model_dump(mode="json", exclude_defaults=True)
    # mtime=0 so the same snapshot always gives the same bytes
    return gzip.compress(orjson.dumps(document), compresslevel=6, mtime=0)


def decode_snapshot(data: bytes) -> Snapshot:
    """The snapshot in `data`, validated as strictly as ever; ValueError for any bytes that are not one
    (bad gzip, truncated, not JSON, wrong shape), so that a reader keeps what it was serving."""
    try:
        document = gzip.decompress(data)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"not a gzip-compressed snapshot ({exc.__class__.__name__})") from None
    return Snapshot.model_validate_json(document)
