"""How pages write numbers and settings: one formatter each, used on every page."""
from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from core.fit.config import settings_summary

UNKNOWN = "–"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def duration(seconds: Any) -> str:
    """Short enough for a metric or a table cell: '42 s', '3 min 05 s', '1 h 02 min'; unknown -> '–'."""
    if not _number(seconds) or seconds != seconds or seconds < 0:
        return UNKNOWN
    seconds = int(round(seconds))
    if seconds >= 3600:
        return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"
    if seconds >= 60:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds} s"


def settings_line(config: Mapping[str, Any] | None) -> str:
    """A run's settings in one line, from its config dict (a TrainConfig's to_dict(), or saved metadata):
    core.fit.config's summary, the same line the command line prints.

    '2 epochs · 300 samples · batch 16 · adam lr 0.001 · validation 10% · augmentation · seed 0';
    settings missing from older metadata, or of the wrong type, are left out, never guessed.
    """
    return settings_summary(dict(config) if isinstance(config, Mapping) else {})


_MARKDOWN_SPECIAL = str.maketrans({c: "\\" + c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"})
LONGEST = 600  # characters of an error message worth showing; Keras can dump a whole config


def plain(text: Any, limit: int = LONGEST) -> str:
    """Text from a URL, a file or an error message, safe inside markdown: every ASCII punctuation
    character backslash-escaped (CommonMark shows it as itself), line breaks folded, at most `limit` characters.

    `st.warning(f"... {plain(job_id)} ...")` shows `[x](http://evil)` as those characters, never as a link,
    and `http://evil` or `www.evil.com` as text, not as an automatic link.
    """
    text = " ".join(str(text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return text.translate(_MARKDOWN_SPECIAL)


def percent(probability: float, decimals: int = 0) -> str:
    """Rounded down, so a network that is almost sure never reads as '100%' sure."""
    scale = 10 ** decimals
    return f"{math.floor(float(probability) * 100 * scale + 1e-6) / scale:.{decimals}f}%"
