"""Model-id globs such as `anthropic/*` or `openai/gpt-5*`, validated and compiled once per request."""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from routeway.errors import InvalidRequest

MAX_PATTERNS = 100
MAX_PATTERN_LENGTH = 200
_ALLOWED = re.compile(r"^[A-Za-z0-9_.:/*?\[\]!~@+-]+$")


@lru_cache(maxsize=1024)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(fnmatch.translate(pattern.lower()))


def _valid(pattern: str) -> bool:
    if not pattern or len(pattern) > MAX_PATTERN_LENGTH or not _ALLOWED.match(pattern):
        return False
    depth = 0
    for char in pattern:  # brackets must pair up: `[abc` is a typo, not a literal
        if char == "[":
            if depth:
                return False
            depth = 1
        elif char == "]":
            if not depth:
                return False
            depth = 0
    return depth == 0


@dataclass(frozen=True)
class GlobSet:
    patterns: tuple[str, ...]

    def matches(self, model_id: str) -> bool:
        lowered = model_id.lower()
        return any(_compile(p).match(lowered) for p in self.patterns)

    def __bool__(self) -> bool:
        return bool(self.patterns)


NO_GLOBS = GlobSet(())


def parse_globs(value: object, param: str) -> GlobSet:
    if value is None:
        return GlobSet(())
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Sequence) or isinstance(value, bytes) or len(value) > MAX_PATTERNS:
        raise InvalidRequest(f"'{param}' must be a list of model ids or globs such as 'anthropic/*'.", param=param)
    for index, pattern in enumerate(value):
        if not isinstance(pattern, str) or not _valid(pattern):
            raise InvalidRequest(
                f"'{param}[{index}]' is not a valid model glob (letters, digits, '/', '*', '?', '[...]').",
                param=f"{param}[{index}]",
            )
    return GlobSet(tuple(value))
