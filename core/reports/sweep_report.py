"""A whole sweep's report: what it asked, every run (sorted by validation accuracy, pruned ones with why), the
parallel coordinates, the curves overlaid and what mattered; and, where its best model is still saved, that
model's own report below. One self-contained HTML file (`python -m core report --sweep ID`)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from core.reports import page, pictures
from core.sweeps.compare import importance_input, rows_from_sweep, value_text, varied
from core.sweeps.importance import importances, sentence
from core.sweeps.space import SEARCH_TITLES

if TYPE_CHECKING:
    from core.store import ModelStore
    from core.sweeps.records import SweepRecord


def sweep_report(record: "SweepRecord", store: "ModelStore | None" = None) -> str:
    spec = record.spec
    rows = rows_from_sweep(record)
    axes = [a.name for a in spec.axes]
    names = axes + [n for n in varied(rows) if n not in axes]
    title = f"Sweep {record.id}"
    about = [SEARCH_TITLES[spec.search], f"{spec.runs} runs", f"pruning: {spec.prune}", record.state]
    if record.owner:
        about.append(f"by {record.owner}")
    body = [f"<h1>{page.escape(title)}</h1>", f"<p class=\"meta\">{page.escape(' · '.join(about))}</p>",
            page.table(["setting", "values tried"], [(a.label, a.text()) for a in spec.axes])]
    ranked = sorted(rows, key=lambda r: (r.val_accuracy is None, -(r.val_accuracy or 0)))
    body += ["<h2>Runs</h2>", page.table(
        ["run", *(n.replace("_", " ") for n in names), "validation accuracy", "test accuracy", "epochs", "seconds",
         "state", "model"],
        [(r.label, *(value_text(r.settings.get(n)) for n in names), _percent(r.val_accuracy),
          _percent(r.test_accuracy), len(r.history), f"{r.seconds:.1f}" if r.seconds else "", r.state, r.model or "")
         for r in ranked], numeric=range(1 + len(names), 5 + len(names)))]
    pruned = [r for r in rows if r.state == "pruned"]
    body += [f"<p class=\"pruned\">{page.escape(r.label)}: {page.escape(r.note or 'pruned')}</p>" for r in pruned]
    if len(rows) >= 2:
        body += ["<h2>What the results depend on</h2>",
                 page.figure(pictures.uri(pictures.parallel_png(rows, names)), "parallel coordinates of the runs")]
    if any(r.history for r in rows) and names:
        body.append(page.figure(pictures.uri(pictures.overlay_png(rows, names[0])), "validation curves overlaid"))
    shares = importances(importance_input(rows))
    if shares:
        body += ["<h2>What mattered</h2>", f"<p><strong>{page.escape(sentence(shares))}</strong> (Optuna's fANOVA "
                 "over the finished runs.)</p>", page.bars(shares)]
    best = next((r for r in ranked if r.model and r.state == "finished"), None)
    if store is not None and best is not None and store.exists(best.model):
        from core.reports.model_report import model_report

        inner = model_report(store, best.model)
        start, end = inner.index("<body>") + len("<body>"), inner.index("<footer>")
        body += [f"<h2>The best run: {page.escape(best.label)}</h2>", inner[start:end].replace("<h1>", "<h3>")
                 .replace("</h1>", "</h3>").replace("<h2>", "<h3>").replace("</h2>", "</h3>")]
    return page.document(f"{title}: Digit Studio sweep report", body)


def _percent(value) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else "–"
