"""The layer's botocore data cut to the services the functions make clients for (shared/Makefile runs it).

    python trim_botocore.py SITE SERVICE...

Every other service's folder goes, and so do their entries in endpoints.json (1.25 MB of JSON that every
process parses once for its first client: ~29 ms of CPU here; 82 KB after). The partitions' own data stays.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path


def trim(site: Path, services: set[str]) -> None:
    data = site / "botocore" / "data"
    for folder in data.iterdir():
        if folder.is_dir() and folder.name not in services:
            shutil.rmtree(folder)
    endpoints_path = data / "endpoints.json"
    endpoints = json.loads(endpoints_path.read_text(encoding="utf-8"))
    for partition in endpoints["partitions"]:
        partition["services"] = {k: v for k, v in partition["services"].items() if k in services}
    endpoints_path.write_text(json.dumps(endpoints, indent=1, sort_keys=True), encoding="utf-8")


if __name__ == "__main__":
    trim(Path(sys.argv[1]), set(sys.argv[2:]))
