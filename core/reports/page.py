"""The report's one HTML page: its frame (inline style, no script, nothing fetched) and the pieces every report
uses (a table, a figure, a confusion matrix as a coloured table). Every text is escaped."""
from __future__ import annotations

import html
import time
from typing import Any, Sequence

STYLE = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #111; max-width: 1100px;
       margin: 2em auto; padding: 0 1em; }
h1 { font-size: 1.8em; margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
.meta { color: #555; } table { border-collapse: collapse; margin: 0.6em 0; }
td, th { border: 1px solid #ccc; padding: 3px 8px; text-align: left; } th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
.confusion td { width: 2.6em; text-align: center; padding: 2px; } .confusion th { text-align: center; }
img { max-width: 100%; } .digits { display: flex; flex-wrap: wrap; gap: 10px; }
.digit { text-align: center; font-size: 12px; } .digit img { display: block; border: 1px solid #999; }
.right { color: #009E73; } .wrong { color: #D55E00; } .pruned { color: #D55E00; }
.bar { background: #0072B2; height: 1em; display: inline-block; vertical-align: middle; }
footer { margin-top: 3em; color: #777; font-size: 12px; }
"""


def escape(value: Any) -> str:
    return html.escape(str(value), quote=True)


def document(title: str, body: Sequence[str]) -> str:
    """A whole HTML file; `body` pieces are already HTML."""
    made = time.strftime("%Y-%m-%d %H:%M")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>\n"
            + "\n".join(body)
            + f"\n<footer>Made by Digit Studio on {made}. One file: every picture is inside it; it needs nothing "
              "else to open.</footer></body></html>\n")


def table(header: Sequence[str], rows: Sequence[Sequence[Any]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td class=\"num\">{escape(c)}</td>" if i in numeric else f"<td>{escape(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def figure(uri: str, alt: str) -> str:
    return f"<p><img src=\"{escape(uri)}\" alt=\"{escape(alt)}\"></p>"


def confusion(matrix: Sequence[Sequence[int]], labels: Sequence[str]) -> str:
    """Rows: the true class; columns: what the model said. Mistakes shaded by how often they happen."""
    worst = max([v for t, row in enumerate(matrix) for p, v in enumerate(row) if t != p] or [1]) or 1
    head = "<tr><th>true \\ said</th>" + "".join(f"<th>{escape(label)}</th>" for label in labels) + "</tr>"
    rows = []
    for t, row in enumerate(matrix):
        cells = []
        for p, count in enumerate(row):
            if t == p:
                colour = "#cfe2f3"
            elif count:
                share = count / worst
                colour = "#{:02x}{:02x}{:02x}".format(*(round(a + (b - a) * share)
                                                        for a, b in ((254, 217), (230, 72), (206, 1))))
            else:
                colour = "#ffffff"
            cells.append(f"<td style=\"background:{colour}\">{count}</td>")
        rows.append(f"<tr><th>{escape(labels[t])}</th>{''.join(cells)}</tr>")
    return f"<table class=\"confusion\">{head}{''.join(rows)}</table>"


def bars(shares: dict[str, float]) -> str:
    """Shares as plain HTML bars (what mattered)."""
    rows = "".join(f"<tr><td>{escape(name.replace('_', ' '))}</td><td><span class=\"bar\" "
                   f"style=\"width:{share * 300:.0f}px\"></span> {share:.0%}</td></tr>" for name, share in shares.items())
    return f"<table>{rows}</table>"
