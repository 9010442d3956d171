"""Special-purpose models: the ones a routing mode must never hand ordinary work to.

OpenRouter's catalog lists safety classifiers, code-apply models, embedding models and music
generators next to general chat models, with nothing in the data that says "not for chat". Scoring
every row on price, latency and uptime alone sends "hello" to whichever of them is cheapest or
fastest (issue #18: `auto` answered with `openai/gpt-oss-safeguard-20b`). So each model is
classified once per snapshot from its id, name, description, modalities and supported parameters:

- `safety`: safety classifiers and guards (gpt-oss-safeguard, Llama Guard, ShieldGemma, Granite
  Guardian, NemoGuard...), and models described as built for content safety classification;
- `moderation`: moderation models (omni-moderation and the like);
- `apply`: apply/merge/edit-prediction models that rewrite a file from an edit snippet (Morph
  v3, Relace Apply). A description about applying edits counts only when the model takes no
  `tools`: general coding models also talk about "applying edits", apply models take a fixed
  prompt format and no tools;
- `retrieval`: code-search subagents that return file lists, not answers (Relace Search);
- `embedding` and `rerank`: vectors and relevance scores, not text;
- `image_only` and `audio_only`: no text in the output (FLUX), or music and speech generators
  (Lyria) whose text output is incidental;
- `ocr` and `gui_agent`: single-skill vision models (Qianfan OCR, UI-TARS);
- `router`: models that are themselves routers or request builders (openrouter/auto, openrouter/free,
  Pareto Code Router, Body Builder, Switchpoint Router).

`auto`, `router`, `free` and `bodybuilder` exclude them (reason `special_purpose`); naming one
explicitly still works. The rules are checked against the bundled catalog in
tests/unit/test_auto_routing.py, which lists every model they catch.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from routeway.domain.catalog import Catalog, Model, PerCatalog

SAFETY_NAME = re.compile(r"llama-?guard|safeguard|shieldgemma|guardian|nemoguard|wildguard|(^|[/\s-])guard\b", re.I)
SAFETY_TEXT = re.compile(
    r"\bsafety (reasoning model|classifier|classification)|\bfine-tuned for content safety|\bcontent safety classifier",
    re.I,
)
MODERATION = re.compile(r"moderation", re.I)
MODERATION_TEXT = re.compile(r"\b(content )?moderation (model|classifier|endpoint)\b", re.I)
APPLY_NAME = re.compile(r"morph-v\d|relace-apply|fast-apply|\bapply\b|edit-prediction|\bzeta\b", re.I)
APPLY_TEXT = re.compile(r"\bapply model\b|code-patching|merges? (ai-suggested )?edits|\bedit prediction\b", re.I)
RETRIEVAL_NAME = re.compile(r"relace-search", re.I)
RETRIEVAL_TEXT = re.compile(r"\breturn relevant files\b", re.I)
EMBEDDING = re.compile(r"embed", re.I)
RERANK = re.compile(r"rerank", re.I)
AUDIO_TEXT = re.compile(r"\bmusic generation\b|\btext-to-speech\b|\btts model\b|\bsong generation\b", re.I)
OCR = re.compile(r"(^|[/\s-])ocr\b", re.I)
GUI_AGENT = re.compile(r"ui-tars|computer-use-preview", re.I)
ROUTER_NAME = re.compile(r"\brouter\b|body ?builder", re.I)
HEAD = 400  # descriptions are read from their start: later text tends to compare with other models


def classify(model: Model) -> str | None:
    """The special-purpose kind of a model, or None for a general model."""
    names = f"{model.id} {model.name}"
    text = model.description[:HEAD]
    outputs = model.output_set
    params = frozenset(model.supported_parameters)
    if SAFETY_NAME.search(names) or SAFETY_TEXT.search(text):
        return "safety"
    if MODERATION.search(names) or MODERATION_TEXT.search(text):
        return "moderation"
    if APPLY_NAME.search(names) or (APPLY_TEXT.search(text) and "tools" not in params):
        return "apply"
    if RETRIEVAL_NAME.search(names) or RETRIEVAL_TEXT.search(text):
        return "retrieval"
    if "embeddings" in outputs or EMBEDDING.search(names):
        return "embedding"
    if RERANK.search(names):
        return "rerank"
    if "text" not in outputs and "image" in outputs:
        return "image_only"
    if "text" not in outputs or ("audio" in outputs and AUDIO_TEXT.search(text)):
        return "audio_only"
    if OCR.search(names):
        return "ocr"
    if GUI_AGENT.search(names):
        return "gui_agent"
    if ROUTER_NAME.search(names):
        return "router"
    return None


def special_purpose(catalog: Catalog) -> Mapping[str, str]:
    """Model id → special-purpose kind, for every special-purpose model; built once per snapshot."""
    return _SPECIAL_PURPOSE(catalog)


_SPECIAL_PURPOSE = PerCatalog(
    lambda catalog: {m.id: kind for m in catalog.snapshot.models if (kind := classify(m)) is not None}
)
