"""A run's snapshots as plain HTML and SVG: the panel of test images, the drawing's probabilities, the
first-layer filters, a confusion matrix, and light training curves.

One markdown element each, redrawn every second while a run trains: no Vega chart to re-embed and no
image file to fetch, so watching costs the server and the browser little. Pictures are small PNGs
inline (data URIs), enlarged by the browser with crisp pixels. Right and wrong are told apart by a
✓ or ✗ as well as by colour (Okabe-Ito's bluish green and vermillion).
"""
from __future__ import annotations

import base64
import html
import io
import threading
import weakref

import numpy as np
from PIL import Image

from core.store.snapshots import Panel, Snapshot
from pages.parts import charts
from pages.parts.probability_bars import PANEL, probability_bars_html

RIGHT, WRONG = charts.GREEN, charts.VERMILLION
DIGIT_PX = 56                     # a 28x28 panel image, shown 2x
WRONG_TINT = "#fbe3d6"            # a wrong answer's cell: a pale vermillion, so mistakes stand out
_uri_cache: "weakref.WeakKeyDictionary[Panel, list[str]]" = weakref.WeakKeyDictionary()  # gone with its run
_uri_lock = threading.Lock()


def png_uri(image: np.ndarray) -> str:
    """A uint8 gray (h, w) or RGB (h, w, 3) array as a data: URI of its PNG."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", optimize=False, compress_level=1)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def panel_uris(panel: Panel) -> list[str]:
    """The panel's pictures as data URIs, encoded once per panel (a panel is fixed for its run)."""
    with _uri_lock:
        uris = _uri_cache.get(panel)
        if uris is None:
            uris = _uri_cache[panel] = [png_uri(image) for image in panel.images]
        return uris


def _img(uri: str, px: int, alt: str) -> str:
    return (f"<img src='{uri}' alt='{html.escape(alt, quote=True)}' width='{px}' height='{px}' "
            f"style='width:{px}px;height:{px}px;flex:none;object-fit:fill;image-rendering:pixelated;display:block;"
            f"margin:0 auto;background:#000'>")


def _cell(uri: str, name: str, truth: str, right: bool, confidence: float, small_text: bool) -> str:
    colour, mark = (RIGHT, "✓") if right else (WRONG, "✗")
    size = "0.9rem" if small_text else "1.4rem"
    border, background = ("2px", "#fff") if right else ("4px", WRONG_TINT)
    truth_line = "" if right else f"<div style='font-size:0.9rem;color:#222'>is {html.escape(truth)}</div>"
    return (f"<div style='width:{DIGIT_PX + 8}px;border:{border} solid {colour};border-radius:6px;padding:2px;"
            f"text-align:center;background:{background};line-height:1.15'>"
            f"{_img(uri, DIGIT_PX, f'a {truth}')}"
            f"<div style='font-size:{size};font-weight:700;color:{colour};margin-top:2px;overflow-wrap:anywhere'>"
            f"{mark}&nbsp;{html.escape(name)}</div>"
            f"<div style='font-size:1.05rem;color:#222'>{confidence:.0%}</div>{truth_line}</div>")


def panel_html(panel: Panel, snapshot: Snapshot) -> str:
    """Every panel image with what the network says it is, how sure, and ✓/✗; the hard ones in a row apart."""
    uris = panel_uris(panel)
    names = panel.class_names
    small = max(map(len, names)) > 2
    predictions, confidences = snapshot.predictions, snapshot.confidences
    right = predictions == panel.labels
    cells = {True: [], False: []}
    for i in range(len(panel)):
        cells[bool(panel.hard[i])].append(_cell(uris[i], names[int(predictions[i])], names[int(panel.labels[i])],
                                                bool(right[i]), float(confidences[i]), small))
    row = "<div style='display:flex;flex-wrap:wrap;align-items:flex-start;gap:6px;margin:4px 0 8px'>{}</div>"
    parts = [f"<div style='font-size:1.35rem;font-weight:600'>{int(right.sum())} of {len(panel)} right</div>",
             row.format("".join(cells[False]))]
    if cells[True]:
        parts += ["<div style='font-size:1.05rem;color:#333'>Hard ones, that look like another "
                  f"{'digit' if not small else 'class'}:</div>", row.format("".join(cells[True]))]
    return "<div aria-label='test images and what the network says they are'>" + "".join(parts) + "</div>"


def probe_html(snapshot: Snapshot, names: tuple[str, ...], when: str) -> str:
    """The user's drawing as the network saw it, its answer and all probabilities, `when` ('as of batch 40')."""
    probabilities = np.asarray(snapshot.probe, dtype=np.float32)
    best = int(probabilities.argmax())
    picture = _img(png_uri(snapshot.probe_image), 84, "your drawing")
    return (f"<div aria-label='your drawing and what the network says it is' style='display:flex;flex-wrap:wrap;"
            f"gap:16px;align-items:flex-end'>{picture}"
            f"<div style='flex:none;line-height:1.1'><div style='font-size:1.1rem'>The network says</div>"
            f"<div style='font-size:3.5rem;font-weight:700;line-height:1'>{html.escape(names[best])}</div>"
            f"<div style='font-size:1.1rem'>{probabilities[best]:.0%} sure</div>"
            f"<div style='font-size:0.95rem;color:#444'>{html.escape(when)}</div></div>"
            + probability_bars_html(probabilities, names, 100, PANEL) + "</div>")


# Diverging colours for weights: blue below zero, white at zero, orange above (Okabe-Ito's ends).
_NEGATIVE, _POSITIVE = np.array([0, 114, 178]), np.array([230, 159, 0])


def filter_mosaic(filters: np.ndarray, columns: int) -> np.ndarray:
    """uint8 filters (k, h, w) (128 = zero) -> one RGB picture, `columns` across, a white line between them."""
    k, h, w = filters.shape
    rows = -(-k // columns)
    mosaic = np.full((rows * (h + 1) + 1, columns * (w + 1) + 1, 3), 255, np.uint8)
    t = (filters.astype(np.float32) - 128) / 127
    white = np.array([255, 255, 255], np.float32)
    t = t[..., None]
    rgb = np.where(t < 0, white + (_NEGATIVE - white) * -t, white + (_POSITIVE - white) * t)
    rgb = np.clip(np.round(rgb), 0, 255).astype(np.uint8)
    for i in range(k):
        r, c = divmod(i, columns)
        mosaic[1 + r * (h + 1):1 + r * (h + 1) + h, 1 + c * (w + 1):1 + c * (w + 1) + w] = rgb[i]
    return mosaic


def filters_html(filters: np.ndarray, kind: str, width_px: int = 560) -> str:
    """The first layer's filters as one enlarged picture, with how to read its colours."""
    k, h, w = filters.shape
    columns = 8 if k <= 32 else 16
    mosaic = filter_mosaic(filters, columns)
    scale = max(1, width_px // mosaic.shape[1])
    what = (f"{k} kernels of {h} x {w} pixels, each a pattern the first layer looks for" if kind == "conv" else
            f"the input weights of {k} first-layer units, each drawn as the {h} x {w} picture it reads")
    shown = mosaic.shape[1] * scale
    return (f"<img src='{png_uri(mosaic)}' alt='first-layer filters' "
            f"style='width:{shown}px;max-width:100%;height:auto;object-fit:contain;image-rendering:pixelated;"
            f"display:block'>"
            f"<div style='font-size:0.95rem;color:#333'>{what}. "
            f"<span style='color:#b27300;font-weight:600'>Orange</span>: positive weights, "
            f"<span style='color:{charts.BLUE};font-weight:600'>blue</span>: negative, white: near zero.</div>")


def confusion_html(matrix: np.ndarray, names: tuple[str, ...]) -> str:
    """A confusion matrix as a table in the charts' colours: rows true, columns predicted."""
    matrix = np.asarray(matrix)
    fills, dark = charts.confusion_fills(matrix)
    short = [html.escape(n if len(n) <= 3 else n[:3]) for n in names]
    cell = "padding:0;width:34px;height:30px;text-align:center;border:1px solid #ddd;font-size:0.95rem"
    head = "".join(f"<th style='{cell};font-weight:600;background:#fff' title='{html.escape(n)}'>{s}</th>"
                   for n, s in zip(names, short))
    rows = []
    for t, name in enumerate(names):
        tds = "".join(f"<td style='{cell};background:{fills[t, p]};color:{'#fff' if dark[t, p] else '#000'}'>"
                      f"{int(matrix[t, p]) or ''}</td>" for p in range(len(names)))
        rows.append(f"<tr><th style='{cell};font-weight:600;background:#fff' title='{html.escape(name)}'>"
                    f"{short[t]}</th>{tds}</tr>")
    return (f"<table aria-label='confusion matrix' style='border-collapse:collapse;margin:0'>"
            f"<tr><th style='{cell};background:#fff'></th>{head}</tr>"
            f"{''.join(rows)}</table>")


# --- light curves while a run trains ----------------------------------------------------------------

MAX_CURVE_POINTS = 240  # about one point per two pixels of a half-width chart


def thin_curve(xs: np.ndarray, ys: np.ndarray, limit: int = MAX_CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
    """At most `limit` points: neighbours averaged in equal groups (the last point kept as it is)."""
    n = len(xs)
    if n <= limit:
        return xs, ys
    size = -(-n // limit)
    cut = (n // size) * size
    tx, ty = xs[:cut].reshape(-1, size).mean(axis=1), ys[:cut].reshape(-1, size).mean(axis=1)
    return np.append(tx, xs[-1]), np.append(ty, ys[-1])


def curve_svg(title: str, epochs: int, train: tuple[np.ndarray, np.ndarray],
              validation: tuple[np.ndarray, np.ndarray], percent: bool, events=()) -> str:
    """One small line chart as SVG: training (blue line) and validation (orange points) against epochs;
    `events` (core.store.run_events.RunEvent) as dashed vertical lines with their labels."""
    width, height, left, right, top, bottom = 460, 250, 52, 12, 34, 36
    ys = np.concatenate([train[1], validation[1]]) if len(validation[1]) else train[1]
    ys = ys[np.isfinite(ys)]
    low, high = (0.0, 1.0) if percent else (0.0, float(ys.max()) * 1.05 if len(ys) else 1.0)
    high = high if high > low else low + 1

    def x(v):
        return left + (width - left - right) * np.asarray(v, dtype=float) / max(epochs, 1e-9)

    def y(v):
        return top + (height - top - bottom) * (1 - (np.asarray(v, dtype=float) - low) / (high - low))

    parts = [f"<text x='{left}' y='20' font-size='16' font-weight='600'>{html.escape(title)}</text>",
             f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}' stroke='#888'/>",
             f"<line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' stroke='#888'/>"]
    for tick in np.linspace(low, high, 5):
        label = f"{tick:.0%}" if percent else f"{tick:.2g}"
        parts.append(f"<line x1='{left}' y1='{y(tick):.1f}' x2='{width - right}' y2='{y(tick):.1f}' stroke='#eee'/>"
                     f"<text x='{left - 6}' y='{y(tick) + 5:.1f}' font-size='13' text-anchor='end'>{label}</text>")
    step = max(1, -(-epochs // 10))
    for tick in range(0, epochs + 1, step):
        parts.append(f"<text x='{x(tick):.1f}' y='{height - bottom + 18}' font-size='13' text-anchor='middle'>"
                     f"{tick}</text>")
    parts.append(f"<text x='{(left + width - right) / 2}' y='{height - 2}' font-size='13' "
                 f"text-anchor='middle'>epoch</text>")
    if len(train[0]):
        points = " ".join(f"{a:.1f},{b:.1f}" for a, b in zip(x(train[0]), y(np.clip(train[1], low, high))))
        parts.append(f"<polyline points='{points}' fill='none' stroke='{charts.BLUE}' stroke-width='2'/>")
    for a, b in zip(x(validation[0]), y(np.clip(validation[1], low, high))):
        parts.append(f"<circle cx='{a:.1f}' cy='{b:.1f}' r='5' fill='{charts.ORANGE}'/>")
    for number, event in enumerate(events):
        at = float(np.clip(x(event.x), left, width - right))
        parts.append(f"<line x1='{at:.1f}' y1='{top}' x2='{at:.1f}' y2='{height - bottom}' stroke='{charts.PURPLE}' "
                     f"stroke-width='2' stroke-dasharray='5 3'/><text x='{at + 3:.1f}' y='{top + 14 + 14 * (number % 3)}' "
                     f"font-size='12' fill='{charts.PURPLE}'>{html.escape(event.text)}</text>")
    legend = (f"<text x='{width - right}' y='20' font-size='13' text-anchor='end'>"
              f"<tspan fill='{charts.BLUE}'>━ training</tspan>  <tspan fill='{charts.ORANGE}'>● validation</tspan>"
              f"</text>")
    return (f"<svg viewBox='0 0 {width} {height}' role='img' aria-label='{html.escape(title)} curve' "
            f"style='width:100%;height:auto;font-family:sans-serif'>{''.join(parts)}{legend}</svg>")
