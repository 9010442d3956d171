"""template.yaml for this machine's architecture, printed for `make build-host`.

The deployable build is arm64; this machine may not run arm64 code. The twin changes only the architecture
(functions, layer, the layer's build) and makes the code paths absolute (it is written under .aws-sam/), so
`sam build` runs the same Makefile with the same pins for the host. It is never deployed.
"""

from __future__ import annotations

import re
import sys

from tests.fakes.data import REPO

SAM_ARCH = {"x86_64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}


def host_template(machine: str) -> str:
    text = (REPO / "template.yaml").read_text(encoding="utf-8")
    text = re.sub(r"(?<![A-Za-z])arm64\b", SAM_ARCH[machine], text)
    return re.sub(r"^(\s+(?:CodeUri|ContentUri): )(?=functions/|shared/)", rf"\g<1>{REPO}/", text, flags=re.M)


if __name__ == "__main__":
    sys.stdout.write(host_template(sys.argv[1]))
