"""Where the real OpenRouter data lives: ../shared/data/openrouter beside the repo (ROUTEWAY_SHARED overrides)."""

from __future__ import annotations

import json
import os
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("ROUTEWAY_SHARED", REPO.parent / "shared"))
OPENROUTER_DATA = SHARED / "data" / "openrouter"
OPENAI_SCHEMAS = SHARED / "data" / "openai" / "chat_schemas.json"


@cache
def load(name: str) -> Any:
    return json.loads((OPENROUTER_DATA / name).read_text(encoding="utf-8"))
