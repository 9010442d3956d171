"""A snapshot's bytes on disk and in S3: gzip-compressed JSON."""

from __future__ import annotations

import gzip

import orjson

from routeway.domain.catalog import Snapshot


def encode_snapshot(snapshot: Snapshot) -> bytes:
    # mtime=0 so the same snapshot always gives the same bytes
    return gzip.compress(orjson.dumps(snapshot.model_dump(mode="json")), compresslevel=6, mtime=0)


def decode_snapshot(data: bytes) -> Snapshot:
    return Snapshot.model_validate_json(gzip.decompress(data))
