"""Where a snapshot load goes: the "load + index" figure of bench/run.py, stage by stage.

    python -m bench.snapshot_load [--runs 21] [--profile]

Publishes the real catalog as `make bench` does (a refresh from ../shared/data/openrouter into a fresh
ROUTEWAY_HOME), then times, interleaved run by run, exactly what `catalog_figures` times (read from the
store, decode, Catalog, every OpenRouter row, the provider names) for the snapshot as published and for
the same snapshot written with every field (the format before defaults were left out: stores still hold
it), and each stage alone. Medians in ms. With a realistic heap: the routing bench's catalog and its
index are alive, as they are when bench/run.py reaches this figure.
"""

from __future__ import annotations

import argparse
import cProfile
import gzip
import pstats
import statistics
import time
from collections.abc import Callable

import orjson

from bench import routing
from bench.run import prepared_home
from routeway.adapters.local_store import LocalSnapshotStore, LocalStateStore
from routeway.domain.candidates import known_provider_names, openrouter_rows
from routeway.domain.catalog import Catalog, Snapshot
from routeway.domain.route_index import route_index
from routeway.domain.snapshot_codec import decode_snapshot


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--profile", action="store_true", help="cProfile of the load, top functions by own time")
    args = parser.parse_args()
    home, _ = prepared_home("http://127.0.0.1:9")  # nothing is called upstream: the refresh reads files
    pointer = LocalStateStore(home).get_pointer()
    assert pointer is not None
    store = LocalSnapshotStore(home)
    published = store.get_snapshot(pointer.version) or b""
    snapshot = decode_snapshot(published)
    every_field = gzip.compress(orjson.dumps(snapshot.model_dump(mode="json")), compresslevel=6, mtime=0)
    raw = gzip.decompress(published)
    heap = routing.real_catalog()
    route_index(heap)

    def load_and_index(read: Callable[[], bytes]) -> Callable[[], object]:
        def run() -> object:
            catalog = Catalog(decode_snapshot(read()), "store")
            openrouter_rows(catalog)
            return known_provider_names(catalog)

        return run

    def rows_only() -> object:
        catalog = Catalog(snapshot, "store")
        openrouter_rows(catalog)
        return known_provider_names(catalog)

    cases: dict[str, Callable[[], object]] = {
        "load + index (as bench/run.py)": load_and_index(lambda: store.get_snapshot(pointer.version) or b""),
        "load + index, every-field bytes": load_and_index(lambda: every_field),
        "  read from the store": lambda: store.get_snapshot(pointer.version),
        "  gzip.decompress": lambda: gzip.decompress(published),
        "  decode_snapshot": lambda: decode_snapshot(published),
        "  pydantic model_validate_json": lambda: Snapshot.model_validate_json(raw),
        "  rows + provider names": rows_only,
    }
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, case in cases.items():
            started = time.perf_counter()
            case()
            samples[name].append((time.perf_counter() - started) * 1e3)
    models = len(snapshot.models)
    print(f"snapshot {pointer.version}: {models} models, {len(published):,} B gzip ({len(raw):,} B JSON);", end=" ")
    print(f"every-field: {len(every_field):,} B gzip; {args.runs} interleaved runs, medians")
    for name, values in samples.items():
        print(f"{name:36s} {statistics.median(values):7.2f} ms")
    if args.profile:
        profile = cProfile.Profile()
        profile.runcall(lambda: [cases["load + index (as bench/run.py)"]() for _ in range(args.runs)])
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
