"""The layout as tests: the import-linter contracts in .importlinter hold (and would catch a wrong-way
import), and pages/ holds only the page scripts that app.PAGES routes to."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINT = [str(Path(sys.executable).parent / "lint-imports")]  # import-linter's own command, from this environment


def lint(folder: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(folder)}
    return subprocess.run([*LINT, "--no-cache", "--no-logo"], cwd=folder, env=env, capture_output=True, text=True,
                          timeout=120)


def test_the_import_contracts_hold():
    result = lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "4 kept, 0 broken" in result.stdout


def test_a_wrong_way_import_or_a_circle_breaks_a_contract(tmp_path):
    for name in ("core", "pages"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / ".importlinter", tmp_path)
    augment = tmp_path / "core" / "data" / "augment.py"
    augment.write_text(augment.read_text() + "\nfrom core.runs import queue  # noqa\n")      # data reaching up to runs
    canvas = tmp_path / "pages" / "parts" / "canvas.py"
    canvas.write_text(canvas.read_text() + "\nfrom pages import draw  # noqa\n")             # a part importing a page
    charts = tmp_path / "pages" / "parts" / "charts.py"
    charts.write_text(charts.read_text() + "\nfrom pages.parts import canvas  # noqa\n")     # canvas -> draw -> charts
    result = lint(tmp_path)
    assert result.returncode != 0
    broken = [line for line in result.stdout.splitlines() if line.rstrip().endswith("BROKEN")]
    assert len(broken) == 3, result.stdout                     # the layers, the parts and the circles
    assert "core.data.augment -> core.runs.queue" in result.stdout


def test_pages_holds_only_the_page_scripts_app_routes_to():
    from app import PAGES

    scripts = {f"pages/{p.name}" for p in (ROOT / "pages").glob("*.py") if p.name != "__init__.py"}
    assert scripts == {entry.path for entry in PAGES}
