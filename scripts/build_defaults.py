"""Write shared/routeway/data/defaults.json from defaults.yaml (the hand-edited source): `make snapshot` runs it.

    python scripts/build_defaults.py

Processes read the JSON: it parses in well under a millisecond, where PyYAML's import and loader cost a
Lambda cold start ~100 ms. tests/unit/test_config_defaults.py fails when the two differ.
"""

from __future__ import annotations

import json
from importlib import resources

from routeway.config import PACKAGED_DEFAULTS, packaged_defaults_document


def main() -> None:
    out = resources.files("routeway").joinpath(PACKAGED_DEFAULTS)
    text = json.dumps(packaged_defaults_document(), indent=1, ensure_ascii=False) + "\n"
    with open(str(out), "w", encoding="utf-8") as file:
        file.write(text)
    print(f"{out}: written from defaults.yaml")


if __name__ == "__main__":
    main()
