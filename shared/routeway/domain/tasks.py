"""Task detection for `auto` / `router`: what kind of work a request is, from the request alone.

Deterministic and cheap: a few regular expressions over the prompt text (at most the last 20,000
characters, see services/routing.message_text) and the requirements already derived from the body.
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
from typing import Literal

from routeway.domain.requirements import Requirements

Task = Literal["chat", "code", "reasoning", "vision", "long_context", "tools", "image_generation"]
TASKS: tuple[Task, ...] = ("chat", "code", "reasoning", "vision", "long_context", "tools", "image_generation")
LONG_CONTEXT_TOKENS = 100_000

CODE_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("code fence", re.compile(r"```")),
    (
        "stack trace",
        re.compile(
            r"Traceback \(most recent call last\)|\bat [\w$.]+\([\w$]+\.(java|kt|scala):\d+\)|"
            r"Exception in thread \"|\berror\[E\d{4}\]|\bpanicked at\b|\bSegmentation fault\b|"
            r"\b\w+(Error|Exception): .+\n?\s+at\b"
        ),
    ),
    (
        "source code",
        re.compile(
            r"^\s*(def|class|import|from \S+ import|#include|fn|func|package|public (static )?\w+|const|let|"
            r"function|async function|SELECT .+ FROM|CREATE TABLE)\b.*$",
            re.M,
        ),
    ),
    (
        "a coding request",
        re.compile(
            r"\b(write|implement|fix|debug|refactor|optimi[sz]e|review|port|translate)\b[^.?!\n]{0,60}\b"
            r"(function|method|class|script|program|code|snippet|regex|query|unit tests?|bug|endpoint|module)\b|"
            r"\b(python|javascript|typescript|rust|golang|java|kotlin|swift|c\+\+|c#|ruby|php|sql|bash|"
            r"haskell|scala)\b[^.?!\n]{0,40}\b(function|script|program|code|class|snippet|query|error|bug)\b",
            re.I,
        ),
    ),
    (
        "a coding system prompt",
        re.compile(
            r"\b(coding|programming|software engineering|code review) (assistant|agent)\b|"
            r"\byou are (an? )?(expert |senior )?(programmer|software engineer|developer|coder)\b",
            re.I,
        ),
    ),
)
REASONING_SIGNALS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a proof", re.compile(r"\b(prove|proof|theorem|lemma|show that|disprove)\b", re.I)),
    (
        "mathematics",
        re.compile(
            r"\b(solve for|equation|integral|derivative|probability|factori[sz]e|polynomial|eigen\w*|"
            r"modulo|prime numbers?|irrational|matrix|limit of)\b|[∫∑√∀∃≤≥]|\b\d+\s*[\^*/]\s*\d+\b|"
            r"\b[a-z]\^\d\b|\b\d*[a-z]\s*[+\-]\s*\d+\s*=\s*\d",
            re.I,
        ),
    ),
    (
        "a multi-step puzzle",
        re.compile(
            r"\b(puzzle|riddle|logic problem|step[- ]by[- ]step|think carefully|how many \w+ (would|will|must|are)|"
            r"who (is|was) lying|knights and knaves)\b",
            re.I,
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


def _first(signals: tuple[tuple[str, re.Pattern[str]], ...], text: str) -> str | None:
    return next((why for why, pattern in signals if pattern.search(text)), None)


def detect_task(needs: Requirements, text: str) -> DetectedTask:
    """The request's task; see the module docstring for the rules and their order."""
    if "image" in needs.output_modalities:
        return DetectedTask("image_generation", "image output asked")
    if "image" in needs.input_modalities:
        return DetectedTask("vision", "image parts")
    if needs.prompt_tokens > LONG_CONTEXT_TOKENS:
        return DetectedTask("long_context", f"prompt estimate above {LONG_CONTEXT_TOKENS:,} tokens")
    if needs.tools:
        return DetectedTask("tools", "tools sent")
    why = _first(CODE_SIGNALS, text)
    if why:
        return DetectedTask("code", why)
    if needs.reasoning_asked:
        return DetectedTask("reasoning", "reasoning asked")
    why = _first(REASONING_SIGNALS, text)
    if why:
        return DetectedTask("reasoning", why)
    return DetectedTask("chat", "no other task matched")
