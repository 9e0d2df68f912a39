"""A column of bars per class, each labelled with its probability: the answer on Draw, and the live panel's
answer for the user's drawing. Plain HTML rather than a Vega chart: the browser draws it at once, where a
chart re-embedded after every stroke held the whole answer back by about half a second."""
from __future__ import annotations

import html
from dataclasses import dataclass

import numpy as np

from pages.parts import charts
from pages.parts.formatting import percent


@dataclass(frozen=True)
class BarsLook:
    """How one set of bars is drawn: type sizes, colours, and the caption under them, if any."""

    percent_size: str = "0.95rem"
    name_size: str = "1.5rem"
    chosen: str = charts.HIGHLIGHT
    other: str = charts.NEUTRAL
    gap_px: int = 4
    under_one_percent_blank: bool = False
    rounded_down: bool = True  # Draw never reads "100%"; the live panel rounds as its headline does
    caption_style: str | None = "font-size:0.9rem;color:#777"
    box_style: str = ""


DRAW = BarsLook()
PRESENTING = BarsLook(percent_size="1.4rem", name_size="2.6rem", caption_style="font-size:1.3rem;color:#000")
PANEL = BarsLook(percent_size="0.85rem", name_size="1.2rem", chosen=charts.BLUE, gap_px=2,
                 under_one_percent_blank=True, rounded_down=False, caption_style=None,
                 box_style="min-width:220px;flex:1;")


def probability_bars_html(probabilities, names, height_px: int = 170, look: BarsLook = DRAW,
                          screen_relative: bool = False) -> str:
    """One bar per class, the most likely one picked out. `screen_relative` (presenter view): heights in % of
    the screen's height (vh), so a 720-line projector shows them too. Names longer than 3 letters are cut."""
    probabilities = np.asarray(probabilities, dtype=np.float64)
    best = int(probabilities.argmax())
    unit, scale = ("vh", 26 / height_px) if screen_relative else ("px", 1.0)
    columns = []
    for index, (name, p) in enumerate(zip(names, probabilities)):
        bar = round(max(2, p * height_px) * scale, 2) if screen_relative else max(2, round(p * height_px))
        label = ("&nbsp;" if look.under_one_percent_blank and p < 0.01
                 else percent(p, 0) if look.rounded_down else f"{p:.0%}")
        columns.append(
            f"<div title='{html.escape(str(name), quote=True)}: {p:.1%}' style='flex:1;display:flex;"
            f"flex-direction:column;align-items:center;justify-content:flex-end'>"
            f"<div style='font-size:{look.percent_size}'>{label}</div>"
            f"<div style='width:70%;height:{bar}{unit};background:{look.chosen if index == best else look.other};"
            f"border-radius:3px 3px 0 0'></div>"
            f"<div style='font-size:{look.name_size};font-weight:{700 if index == best else 400}'>"
            f"{html.escape(str(name)[:3])}</div></div>")
    what = "digit" if all(len(str(n)) == 1 and str(n).isdigit() for n in names) else "class"
    height = "calc(26vh + 110px)" if screen_relative else f"{height_px + (70 if look.caption_style else 50)}px"
    bars = (f"<div aria-label='probability of each {what}' style='display:flex;gap:{look.gap_px}px;"
            f"align-items:flex-end;height:{height};border-bottom:1px solid #ccc;{look.box_style}'>"
            f"{''.join(columns)}</div>")
    if look.caption_style:
        bars += f"<div style='{look.caption_style};margin-top:4px'>How likely the network thinks each {what} is</div>"
    return bars
