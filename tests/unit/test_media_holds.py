"""Holds bound media (PRODUCT.md "Money that cannot leak"): a part holds the most any provider bills for what
it carries, never a flat guess that a large part exceeds."""

from __future__ import annotations

import math
import os
from typing import Any

import pytest

from routeway.domain.candidates import row_for
from routeway.domain.catalog import Model, Pricing
from routeway.domain.media_tokens import (
    AUDIO_MIN_BYTES_PER_SECOND,
    AUDIO_TOKENS_PER_SECOND,
    IMAGE_TOKENS_MAX,
    PDF_MAX_PAGES_BILLED,
    PDF_MIN_BYTES_PER_PAGE,
    PDF_PAGE_TOKENS_MAX,
    PDF_TEXT_TOKENS_PER_PAGE,
    image_size,
    image_tokens,
    media_part_tokens,
)
from routeway.domain.plan import Candidate
from routeway.domain.policy import Scored
from routeway.domain.reservation import attempt_bound, prompt_token_bound
from tests.media_files import (
    audio_part,
    b64,
    chat_with,
    file_part,
    gif_header,
    image_part,
    jpeg_header,
    make_pdf,
    make_wav,
    png_header,
    webp_header,
)

SMALLEST_IMAGE_BILLED = 2_833 + 5_667  # gpt-4o-mini, one tile: the most any provider bills a 1 × 1 image


def held(part: dict[str, Any]) -> int:
    tokens, media = prompt_token_bound(chat_with(part))
    assert media == 1
    return tokens


def held_for_media(part: dict[str, Any]) -> int:
    """What the part adds to the hold of the same request without it."""
    return held(part) - prompt_token_bound(chat_with())[0]


def test_a_large_pdf_holds_its_pages_and_a_tiny_one_little() -> None:
    pages = 300
    big = make_pdf(pages, filler=11_500)
    assert 3_500_000 < len(big) < 3_750_000  # what a 5 MB body can carry, base64 encoded
    tiny = b"%PDF-1.4\n%"
    assert len(tiny) == 10
    letter_page = image_tokens(612, 792) + PDF_TEXT_TOKENS_PER_PAGE
    assert held(file_part(big)) >= pages * letter_page
    assert held(file_part(big)) > 100 * held(file_part(tiny))
    assert held(file_part(make_pdf(pages))) == held(file_part(big))  # by its pages, not by its text bytes


def test_a_pdf_holds_page_by_page_whatever_its_label() -> None:
    one, ten = held(file_part(make_pdf(1))), held(file_part(make_pdf(10)))
    assert ten - one == 9 * (image_tokens(612, 792) + PDF_TEXT_TOKENS_PER_PAGE)  # a letter page: 4 tiles and text
    octet = file_part(make_pdf(10), "application/octet-stream", "blob")
    assert held(octet) == ten  # a document is held as one whatever its media type says


def test_a_pdf_whose_pages_cannot_be_read_holds_by_its_bytes() -> None:
    whole = make_pdf(40, filler=200)
    cut = whole[: len(whole) // 2]  # no cross-reference table, no %%EOF: its pages cannot be read
    by_bytes = math.ceil(len(cut) / PDF_MIN_BYTES_PER_PAGE) * PDF_PAGE_TOKENS_MAX
    assert by_bytes < PDF_MAX_PAGES_BILLED * PDF_PAGE_TOKENS_MAX
    assert held(file_part(cut)) >= by_bytes
    assert held(file_part(cut)) > held(file_part(whole))  # unread pages hold more than counted ones
    garbage = b"%PDF-1.7\n" + os.urandom(30_000) + b"\nstartxref\n9\n%%EOF\n"
    assert held(file_part(garbage)) >= math.ceil(len(garbage) / PDF_MIN_BYTES_PER_PAGE) * PDF_PAGE_TOKENS_MAX


def test_a_pdf_with_more_pages_than_any_provider_bills_holds_the_most_pages() -> None:
    most = PDF_MAX_PAGES_BILLED * PDF_PAGE_TOKENS_MAX
    assert held(file_part(make_pdf(PDF_MAX_PAGES_BILLED + 500))) >= most
    assert held(file_part(os.urandom(8 * 1024 * 1024))) >= most  # too large to read: by bytes, at the most


def test_a_long_wav_holds_more_than_a_short_one() -> None:
    short, long = held(audio_part(make_wav(1))), held(audio_part(make_wav(600)))
    assert long >= 600 * AUDIO_TOKENS_PER_SECOND
    assert long > 100 * short
    assert held(file_part(make_wav(600), "audio/wav", "a.wav")) >= 600 * AUDIO_TOKENS_PER_SECOND


def test_audio_that_is_not_wav_holds_by_its_bytes_at_the_lowest_bitrate() -> None:
    coded = os.urandom(120_000)  # 160 s at 6 kbit/s
    seconds = len(coded) / AUDIO_MIN_BYTES_PER_SECOND
    assert held(audio_part(coded, "mp3")) >= seconds * AUDIO_TOKENS_PER_SECOND
    assert held(file_part(coded, "audio/mpeg", "a.mp3")) >= seconds * AUDIO_TOKENS_PER_SECOND


def test_a_big_png_holds_more_than_a_tiny_one() -> None:
    tiny, big = held(image_part(png_header(1, 1))), held(image_part(png_header(4000, 3000)))
    assert tiny >= SMALLEST_IMAGE_BILLED  # never below what a tiny image is billed
    assert big > 2 * tiny
    assert big <= IMAGE_TOKENS_MAX + 20
    assert held(file_part(png_header(4000, 3000), "image/png", "a.png")) == big


@pytest.mark.parametrize(
    ("head", "size"),
    [
        (png_header(4000, 3000), (4000, 3000)),
        (jpeg_header(1920, 1080), (1920, 1080)),
        (jpeg_header(640, 480, exif=30_000), (640, 480)),
        (gif_header(320, 200), (320, 200)),
        (webp_header(1024, 768, "VP8X"), (1024, 768)),
        (webp_header(1024, 768, "VP8L"), (1024, 768)),
        (webp_header(1024, 768, "VP8 "), (1024, 768)),
        (b"\xff\xd8\xff\xe0\x00", None),
        (b"\x89PNG\r\n\x1a\n", None),
        (b"", None),
    ],
)
def test_an_image_is_held_by_the_size_its_header_gives(head: bytes, size: tuple[int, int] | None) -> None:
    assert image_size(head) == size
    assert held_for_media(image_part(head)) == (image_tokens(*size) if size else IMAGE_TOKENS_MAX)


def test_an_image_holds_what_the_dearest_tiling_bills_for_its_size() -> None:
    assert held_for_media(image_part(png_header(1, 1))) == SMALLEST_IMAGE_BILLED
    assert held_for_media(image_part(png_header(1024, 1024))) == 2_833 + 4 * 5_667  # fitted to 768 × 768: 4 tiles
    for width, height in ((768, 2048), (100_000, 30_000)):  # 8 tiles, the most any image is billed
        assert held_for_media(image_part(png_header(width, height))) == IMAGE_TOKENS_MAX
    assert max(image_tokens(w, h) for w in (1, 500, 900, 3000, 9000) for h in (1, 700, 2100, 50_000)) == (
        IMAGE_TOKENS_MAX
    )


def test_an_image_that_cannot_be_measured_holds_the_most_any_image_is_billed() -> None:
    remote = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}
    responses_shape = {"type": "input_image", "image_url": "https://example.com/cat.png"}
    unreadable = image_part(b"\x89PNG\r\n\x1a\n" + os.urandom(100))
    for part in (remote, responses_shape, unreadable):
        assert held(part) >= IMAGE_TOKENS_MAX


@pytest.mark.parametrize(
    "payload",
    ["", "%%%", "A", "AAA=", "====", "data:", "data:;base64,", "data:image/png;base64,%%%", "@" * 10_000, None, 7],
)
def test_garbage_media_never_raises_and_holds_by_bytes(payload: Any) -> None:
    parts: list[dict[str, Any]] = [
        {"type": "image_url", "image_url": {"url": payload}},
        {"type": "image_url", "image_url": payload},
        {"type": "input_image", "image_url": payload},
        {"type": "input_audio", "input_audio": {"data": payload, "format": "wav"}},
        {"type": "input_audio", "input_audio": payload},
        {"type": "file", "file": {"file_data": payload}},
        {"type": "file", "file": payload},
        {"type": "file"},
    ]
    for part in parts:
        assert held(part) >= 1
    for part in parts[:3]:
        assert held(part) >= IMAGE_TOKENS_MAX


def test_random_bytes_under_every_label_hold_by_their_bytes() -> None:
    junk = os.urandom(200_000)
    assert held(file_part(junk)) >= min(PDF_MAX_PAGES_BILLED, len(junk) // PDF_MIN_BYTES_PER_PAGE) * PDF_PAGE_TOKENS_MAX
    assert held(file_part(junk, "text/plain", "a.txt")) >= len(junk)
    assert held(audio_part(junk)) >= len(junk) / AUDIO_MIN_BYTES_PER_SECOND * AUDIO_TOKENS_PER_SECOND
    assert held(image_part(junk)) >= IMAGE_TOKENS_MAX
    fake_wav = b"RIFF\xff\xff\xff\xffWAVEfmt " + os.urandom(200_000)  # a header that cannot be read
    assert held(audio_part(fake_wav)) >= len(fake_wav) / AUDIO_MIN_BYTES_PER_SECOND * AUDIO_TOKENS_PER_SECOND


def test_base64_with_line_breaks_is_measured_or_held_by_bytes() -> None:
    encoded = b64(make_wav(600))
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    part = {"type": "input_audio", "input_audio": {"data": wrapped, "format": "wav"}}
    assert held_for_media(part) >= 600 * AUDIO_TOKENS_PER_SECOND


def _candidate(pricing: Pricing) -> Candidate:
    model = Model(id="acme/listener", pricing=pricing, max_completion_tokens=100)
    return Candidate(Scored(row_for(model, None), 0.0, None, None), "acme/listener")


def test_audio_is_held_at_the_models_audio_price_where_it_is_dearer() -> None:
    body = {**chat_with(audio_part(make_wav(600))), "max_tokens": 100}
    tokens, media = prompt_token_bound(body)
    audio_tokens = media_part_tokens(audio_part(make_wav(600)))
    plain = attempt_bound(_candidate(Pricing(prompt=1e-6, completion=2e-6)), body, tokens, media)
    dear = attempt_bound(_candidate(Pricing(prompt=1e-6, completion=2e-6, audio=4e-5)), body, tokens, media)
    assert plain is not None and dear is not None
    assert dear - plain == pytest.approx(audio_tokens * (4e-5 - 1e-6))
    cheap = attempt_bound(_candidate(Pricing(prompt=1e-6, completion=2e-6, audio=1e-7)), body, tokens, media)
    assert cheap == pytest.approx(plain)  # a cheaper audio price never lowers the hold
