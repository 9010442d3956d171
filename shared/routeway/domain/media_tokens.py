"""The most prompt tokens one media part can be billed, read from the part itself (PRODUCT.md "Holds bound media").

A hold must be an upper bound, so each figure is the most any provider bills, not a typical one:

- Images: OpenAI's gpt-4o-mini bills 2,833 + 5,667 tokens per 512-px tile after fitting the image in
  2048 × 2048 and its short side in 768 px (platform.openai.com/docs/guides/images-vision, "Calculating costs").
  That is the most of any provider at every size: at most 8 tiles, 48,169 tokens, and 8,500 for the smallest
  image, against Anthropic's ≤ ~1,600 (w × h / 750 after resizing), Gemini's 258 per 768-px tile of an image
  scaled into 3072 px (≤ 4,128), Pixtral's ≤ 4,160 and Qwen-VL's ≤ 16,384. The size is read from the header
  (PNG, GIF, WebP, JPEG); an image whose size cannot be read, or an http(s) URL that cannot be measured,
  holds the 8-tile most.
- PDFs: a page is billed as its text and an image of the page (OpenAI's file inputs put both in context;
  Anthropic bills 1,500-3,000 text tokens a page plus the page image). A page holds the page image at the
  image rule for its shape, drawn large enough to be tiled as much as it can be, plus 4,000 text tokens (a
  full page of 6-point text). The pages are counted with pypdf; no provider bills more than 1,000 pages (Gemini's
  and Mistral OCR's limit; Anthropic and OpenAI take fewer). A PDF whose pages cannot be read, or too large
  to read quickly, is bounded by its bytes: one page per 64 bytes, under what the smallest page a writer
  emits takes (`N 0 obj <</Type/Page/Parent 2 0 R>> endobj`, its /Kids entry and its cross-reference row).
- Audio: Gemini bills 32 tokens a second, the most of any provider (OpenAI 10, Voxtral 12.5, Qwen-Omni 25).
  The length of a WAV is its bytes over the header's byte rate; any other format is taken to be coded at
  6 kbit/s, the lowest bitrate a speech codec (Opus) sensibly uses.
- Text files: a byte-level tokenizer makes no more tokens than there are bytes.

Inline data is decoded only as far as needed: its size comes from the base64 length, a header from the
first bytes; only a PDF is decoded whole, and only below PDF_READ_MAX_BYTES.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routeway.domain.content import IMAGE_PARTS

IMAGE_BASE_TOKENS = 2_833
IMAGE_TILE_TOKENS = 5_667
IMAGE_TILE_PX = 512
IMAGE_FIT_PX = 2_048
IMAGE_SHORT_SIDE_PX = 768
IMAGE_MAX_TILES = 8  # a 768 × 2048 image: nothing fitted in 2048 px with its short side in 768 px has more
IMAGE_TOKENS_MAX = IMAGE_BASE_TOKENS + IMAGE_MAX_TILES * IMAGE_TILE_TOKENS
PDF_TEXT_TOKENS_PER_PAGE = 4_000
PDF_PAGE_TOKENS_MAX = IMAGE_TOKENS_MAX + PDF_TEXT_TOKENS_PER_PAGE
PDF_MAX_PAGES_BILLED = 1_000
PDF_MIN_BYTES_PER_PAGE = 64
PDF_READ_MAX_BYTES = 4 * 1024 * 1024  # above any PDF a 5 MB body can carry (3.75 MB once decoded)
PDF_TAIL_BYTES = 2_048  # where `startxref` and `%%EOF` must be, or pypdf would scan the whole file for them
AUDIO_TOKENS_PER_SECOND = 32
AUDIO_MIN_BYTES_PER_SECOND = 750  # 6 kbit/s
WAV_MAX_BYTES_PER_SECOND = 192_000 * 2 * 4  # 192 kHz stereo 32-bit: a header claiming more is not believed
HEADER_BYTES = 64 * 1024  # a JPEG's size can follow a long EXIF block
_JPEG_SIZE_MARKERS = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_BARE_MARKERS = frozenset({0x01, *range(0xD0, 0xDA)})  # markers without a length


@dataclass(frozen=True, slots=True)
class Payload:
    """Base64 data where it lies in its string (`start`): a 4 MB part is measured without being copied."""

    text: str
    start: int = 0

    @property
    def size(self) -> int:
        """An upper bound of the decoded size: every 4 base64 characters make at most 3 bytes."""
        return (len(self.text) - self.start) * 3 // 4

    def head(self, size: int = HEADER_BYTES) -> bytes:
        return _decoded(self.text[self.start : self.start + size // 3 * 4])

    def whole(self) -> bytes:
        return _decoded(self.text[self.start :])


def media_part_tokens(part: Mapping[str, Any]) -> int:
    """The most prompt tokens this image, audio or file part can be billed."""
    kind = part.get("type")
    if kind in IMAGE_PARTS:
        holder = part.get("image_url")
        url = holder.get("url") if isinstance(holder, Mapping) else holder
        return _image_tokens(url) if isinstance(url, str) else IMAGE_TOKENS_MAX
    if kind == "input_audio":
        return audio_part_tokens(part)
    file = part.get("file")
    data = file.get("file_data") if isinstance(file, Mapping) else None
    inline = _data_uri(data) if isinstance(data, str) else None
    if inline is None:  # nothing to measure (content.py refuses such files before any hold)
        return PDF_MAX_PAGES_BILLED * PDF_PAGE_TOKENS_MAX
    media_type, payload = inline
    if media_type.startswith("image/"):
        return _sized_image_tokens(payload)
    if media_type.startswith("audio/"):
        return _audio_tokens(payload)
    if media_type.startswith("text/"):
        return payload.size
    return pdf_tokens(payload)


def audio_part_tokens(part: Mapping[str, Any]) -> int:
    """The most audio tokens this part can be billed; 0 for a part that is not audio."""
    if part.get("type") == "input_audio":
        audio = part.get("input_audio")
        data = audio.get("data") if isinstance(audio, Mapping) else None
        return _audio_tokens(Payload(data)) if isinstance(data, str) else 0
    file = part.get("file") if part.get("type") == "file" else None
    data = file.get("file_data") if isinstance(file, Mapping) else None
    inline = _data_uri(data) if isinstance(data, str) else None
    return _audio_tokens(inline[1]) if inline is not None and inline[0].startswith("audio/") else 0


def image_tokens(width: float, height: float) -> int:
    """What gpt-4o-mini bills an image of this size (high detail), the most any provider bills for it."""
    width, height = max(width, 1.0), max(height, 1.0)
    fit = min(1.0, IMAGE_FIT_PX / max(width, height))
    width, height = width * fit, height * fit
    short = min(1.0, IMAGE_SHORT_SIDE_PX / min(width, height))
    tiles = math.ceil(width * short / IMAGE_TILE_PX) * math.ceil(height * short / IMAGE_TILE_PX)
    return IMAGE_BASE_TOKENS + IMAGE_TILE_TOKENS * min(tiles, IMAGE_MAX_TILES)


def pdf_tokens(payload: Payload) -> int:
    """Pages × (page image + text) from the page tree; from the bytes when it cannot be read."""
    pages = _pdf_page_tokens(payload.whole()) if payload.size <= PDF_READ_MAX_BYTES else None
    if pages is not None:
        return pages
    by_bytes = math.ceil(payload.size / PDF_MIN_BYTES_PER_PAGE)
    return max(1, min(PDF_MAX_PAGES_BILLED, by_bytes)) * PDF_PAGE_TOKENS_MAX


def image_size(head: bytes) -> tuple[int, int] | None:
    """(width, height) from a PNG, GIF, WebP or JPEG header; None when it cannot be read from `head`."""
    if head.startswith(b"\x89PNG\r\n\x1a\n") and head[12:16] == b"IHDR" and len(head) >= 24:
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    if head[:6] in (b"GIF87a", b"GIF89a") and len(head) >= 10:
        return int.from_bytes(head[6:8], "little"), int.from_bytes(head[8:10], "little")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return _webp_size(head)
    if head.startswith(b"\xff\xd8"):
        return _jpeg_size(head)
    return None


def _webp_size(head: bytes) -> tuple[int, int] | None:
    chunk = head[12:16]
    if chunk == b"VP8 " and len(head) >= 30 and head[23:26] == b"\x9d\x01\x2a":
        return int.from_bytes(head[26:28], "little") & 0x3FFF, int.from_bytes(head[28:30], "little") & 0x3FFF
    if chunk == b"VP8L" and len(head) >= 25 and head[20] == 0x2F:
        bits = int.from_bytes(head[21:25], "little")
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X" and len(head) >= 30:
        return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1
    return None


def _jpeg_size(head: bytes) -> tuple[int, int] | None:
    """Walk the segments to the frame header (SOFn), which carries the size."""
    at = 2
    while at + 9 <= len(head):
        if head[at] != 0xFF:
            return None
        marker = head[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
        elif marker in _JPEG_BARE_MARKERS:
            at += 2
        elif marker in _JPEG_SIZE_MARKERS:
            return int.from_bytes(head[at + 7 : at + 9], "big"), int.from_bytes(head[at + 5 : at + 7], "big")
        else:
            at += 2 + int.from_bytes(head[at + 2 : at + 4], "big")
    return None


def _image_tokens(url: str) -> int:
    inline = _data_uri(url)
    return _sized_image_tokens(inline[1]) if inline is not None else IMAGE_TOKENS_MAX  # an http(s) URL: the most


def _sized_image_tokens(payload: Payload) -> int:
    size = image_size(payload.head())
    return image_tokens(*size) if size is not None else IMAGE_TOKENS_MAX


def _audio_tokens(payload: Payload) -> int:
    byte_rate = _wav_byte_rate(payload.head(4096))
    seconds = payload.size / (min(byte_rate, WAV_MAX_BYTES_PER_SECOND) if byte_rate > 0 else AUDIO_MIN_BYTES_PER_SECOND)
    return max(1, math.ceil(seconds * AUDIO_TOKENS_PER_SECOND))


def _wav_byte_rate(head: bytes) -> int:
    """Bytes a second of a PCM WAV, from its header; 0 for anything else (then the lowest bitrate is assumed)."""
    if head[:4] != b"RIFF" or head[8:12] != b"WAVE":
        return 0
    try:
        with wave.open(io.BytesIO(head), "rb") as wav:
            return wav.getframerate() * wav.getnchannels() * wav.getsampwidth()
    except (wave.Error, EOFError, ValueError):  # not PCM, or its data chunk is beyond the head
        return 0


def _pdf_page_tokens(data: bytes) -> int | None:
    """Σ pages (page image + text), at most PDF_MAX_PAGES_BILLED of them; None when pypdf cannot read it.

    The cheap checks first: without `%PDF-` at the head and `startxref`/`%%EOF` at the tail, pypdf would
    scan the whole file to rebuild what is missing.
    """
    tail = data[-PDF_TAIL_BYTES:]
    if b"%PDF-" not in data[:1024] or b"startxref" not in tail or b"%%EOF" not in tail:
        return None
    from pypdf import PdfReader, apply_configuration  # only when a PDF is held: most requests carry none
    from pypdf.errors import LimitReachedError

    try:  # the limits are for this call only (a context variable)
        with apply_configuration(
            page_tree_maximum_entries=PDF_MAX_PAGES_BILLED + 100, zlib_maximum_output_length=PDF_READ_MAX_BYTES * 4
        ):
            reader = PdfReader(io.BytesIO(data), strict=False)
            if reader.is_encrypted:  # the page tree may not be walked; its /Count is only a claim
                return None
            pages = list(reader.pages)
            return sum(_page_tokens(page) for page in pages[:PDF_MAX_PAGES_BILLED])
    except LimitReachedError:  # more pages than any provider bills
        return PDF_MAX_PAGES_BILLED * PDF_PAGE_TOKENS_MAX
    except Exception:  # a hostile file can make a parser raise anything: it is then held by its bytes
        return None


def _page_tokens(page: Any) -> int:
    """The page image drawn large enough for its shape to take the most tiles, and a page of text."""
    try:
        width, height = abs(float(page.mediabox.width)), abs(float(page.mediabox.height))
    except Exception:  # a box pypdf cannot read: the widest shape
        return PDF_PAGE_TOKENS_MAX
    if not (math.isfinite(width) and math.isfinite(height) and width > 0 and height > 0):
        return PDF_PAGE_TOKENS_MAX
    scale = IMAGE_FIT_PX / max(width, height)
    return image_tokens(width * scale, height * scale) + PDF_TEXT_TOKENS_PER_PAGE


def _data_uri(value: str) -> tuple[str, Payload] | None:
    """(media type, base64 payload) of a `data:<type>;base64,` URI; None for a URL or anything else."""
    if not value.startswith("data:"):
        return None
    comma = value.find(",", 0, 512)
    header = value[5:comma].lower() if comma > 0 else ""
    if not header.endswith(";base64"):
        return None
    return header.split(";", 1)[0], Payload(value, comma + 1)


def _decoded(payload: str) -> bytes:
    try:
        return base64.b64decode(payload)
    except (binascii.Error, ValueError):
        return b""
