"""Build the snapshot bundled in the package from the real OpenRouter data in ../shared/data/openrouter.

    python scripts/build_bundled_snapshot.py [--data DIR] [--out FILE]

The default list (models.json) hides image-only models, so the image-output list is merged in,
exactly as a refresh does with `output_modalities`; so are the embedding models (embedding_models.json,
OpenRouter's `GET /embeddings/models`). The result is deterministic: the same data
gives the same bytes and the same version.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from routeway.config import load_routing_config
from routeway.domain.normalize import build_snapshot, complete_endpoints
from routeway.domain.snapshot_codec import encode_snapshot

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "openrouter"
DEFAULT_OUT = ROOT / "shared" / "routeway" / "data" / "snapshot.json.gz"
DATA_DATE = "2026-05-18T00:00:00Z"  # when the data in shared/data/openrouter was captured


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    def read(name: str) -> object:
        return json.loads((args.data / name).read_text(encoding="utf-8"))

    config = load_routing_config(None)
    lists = [read("models.json"), read("models_output_image.json"), read("embedding_models.json")]
    snapshot = build_snapshot(
        model_lists=lists,
        # the capture has no endpoint rows for the per-image-priced FLUX models: derived from their listing
        endpoints_by_id=complete_endpoints(lists, read("endpoints.json")),  # type: ignore[arg-type]
        providers_response=read("providers.json"),
        aliases=config.aliases,
        backends=config.backends,
        created_at=DATA_DATE,
        source="bundled",
        pools=config.pools,
    )
    known = {m.id for m in snapshot.models}
    missing = [t for a in snapshot.aliases for t in a.targets if t not in known]
    missing += [m for ids in snapshot.auto_pools.values() for m in ids if m not in known]
    if missing:
        raise SystemExit(f"alias targets or auto pool entries missing from the data: {missing}")
    args.out.write_bytes(encode_snapshot(snapshot))
    endpoints = sum(len(m.endpoints) for m in snapshot.models)
    print(f"{args.out}: version {snapshot.version}, {len(snapshot.models)} models, {endpoints} endpoints")


if __name__ == "__main__":
    main()
