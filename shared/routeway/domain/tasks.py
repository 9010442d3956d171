"""Task detection for `auto` / `router`: what kind of work a request is, from the request alone.

Deterministic and cheap: a few regular expressions over the end of the prompt text (its last
DETECT_CHARS characters, system prompt included when the conversation is short) and the requirements
already derived from the body.
No model is called and nothing is stored.

The first rule that matches wins, hard requirements first (a task a general text model cannot do
at all comes before a matter of taste):

1. `image_generation`: the request asks for image output (`modalities` contains `image`);
2. `vision`: a message has an image part;
3. `long_context`: the prompt estimate is above LONG_CONTEXT_TOKENS;
4. `tools`: the request sends `tools`;
5. `code`: code fences, stack traces, source-code keywords, or a coding system prompt;
6. `reasoning`: a `reasoning` / `reasoning_effort` field, proofs, maths, multi-step puzzles;
7. `chat`: everything else.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Literal

from routeway.domain.requirements import Requirements

Task = Literal["chat", "code", "reasoning", "vision", "long_context", "tools", "image_generation"]
TASKS: tuple[Task, ...] = ("chat", "code", "reasoning", "vision", "long_context", "tools", "image_generation")
LONG_CONTEXT_TOKENS = 100_000
DETECT_CHARS = 8_000  # the end of the conversation says what is asked; keeps detection well under a millisecond

W = r"(?<![a-z])"  # a word starts here: cheaper than a leading \b, which defeats the regex engine's prefix scan
# The signals' patterns are compiled by the first request that detects a task (`auto`, `router`...), not at
# import: a named-model request never reads them, and compiling them was most of this module's import time.
CODE_PATTERNS: tuple[tuple[str, str], ...] = (
    ("code fence", r"```"),
    (
        "stack trace",
        (
            r"traceback \(most recent call last\)|\.(?:java|kt|scala):\d+\)|exception in thread \"|"
            r"error\[e\d{4}\]|panicked at|segmentation fault|(?:error|exception): [^\n]*\n[ \t]+at "
        ),
    ),
    (
        "source code",
        (
            r"(?m)^[ \t]*(?:def|class|import|from \S+ import|#include|fn|func|package|public (?:static )?\w+|const|let|"
            r"function|async function|select .+ from|create table)\b"
        ),
    ),
    (
        "a coding request",
        (
            W
            + r"(?:write|implement|fix|debug|refactor|optimi[sz]e|review|port|translate)\b[^.?!\n]{0,60}?"
            + W
            + r"(?:function|method|class|script|program|code|snippet|regex|query|unit tests?|bug|endpoint|module)\b"
        ),
    ),
    (
        "a coding request",
        (
            W + r"(?:python|javascript|typescript|rust|golang|java|kotlin|swift|c\+\+|c#|ruby|php|sql|bash|haskell|"
            r"scala)(?![a-z])[^.?!\n]{0,40}?" + W + r"(?:function|script|program|code|class|snippet|query|error|bug)\b"
        ),
    ),
    (
        "a coding system prompt",
        (
            W + r"(?:coding|programming|software engineering|code review) (?:assistant|agent)\b|"
            r"you are (?:an? )?(?:expert |senior )?(?:programmer|software engineer|developer|coder)\b"
        ),
    ),
)
REASONING_PATTERNS: tuple[tuple[str, str], ...] = (
    ("a proof", (W + r"(?:prove|proof|theorem|lemma|show that|disprove)\b")),
    (
        "mathematics",
        (
            W + r"(?:solve for|equation|integral|derivative|probability|factori[sz]e|polynomial|eigen|modulo|"
            r"prime numbers?|irrational|matrix|limit of)|[∫∑√∀∃≤≥]|\d ?[\^*/] ?\d|"
            + r"[a-z]\^\d|\d[a-z] ?[+\-] ?\d+ ?= ?\d"
        ),
    ),
    (
        "a multi-step puzzle",
        (
            W + r"(?:puzzle|riddle|logic problem|step[- ]by[- ]step|think carefully|how many \w+ (?:would|will|must|"
            r"are)|who (?:is|was) lying|knights and knaves)\b"
        ),
    ),
)


@dataclass(frozen=True)
class DetectedTask:
    task: Task
    why: str  # the signal that decided it, for the preview's notes

    @property
    def note(self) -> str:
        return f"task: {self.task} ({self.why})"


Signals = tuple[tuple[str, re.Pattern[str]], ...]


@cache
def code_signals() -> Signals:
    return tuple((why, re.compile(pattern)) for why, pattern in CODE_PATTERNS)


@cache
def reasoning_signals() -> Signals:
    return tuple((why, re.compile(pattern)) for why, pattern in REASONING_PATTERNS)


def _first(signals: Signals, text: str) -> str | None:
    return next((why for why, pattern in signals if pattern.search(text)), None)


def detect_task(needs: Requirements, text: str) -> DetectedTask:
    """The request's task; see the module docstring for the rules and their order."""
    text = text[-DETECT_CHARS:].lower()  # lower case patterns: case-insensitive matching is several times slower
    if "image" in needs.output_modalities:
        return DetectedTask("image_generation", "image output asked")
    if "image" in needs.input_modalities:
        return DetectedTask("vision", "image parts")
    if needs.prompt_tokens > LONG_CONTEXT_TOKENS:
        return DetectedTask("long_context", f"prompt estimate above {LONG_CONTEXT_TOKENS:,} tokens")
    if needs.tools:
        return DetectedTask("tools", "tools sent")
    why = _first(code_signals(), text)
    if why:
        return DetectedTask("code", why)
    if needs.reasoning_asked:
        return DetectedTask("reasoning", "reasoning asked")
    why = _first(reasoning_signals(), text)
    if why:
        return DetectedTask("reasoning", why)
    return DetectedTask("chat", "no other task matched")
