"""Every page opens through app.py's router, as a user would, and raises nothing; importing one runs nothing."""
from __future__ import annotations

import importlib
import sys
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

import app

from page_support import ROOT, TIMEOUT, add_copy_of_default


@pytest.mark.parametrize("dataset", ["mnist", "fashion-mnist"])
@pytest.mark.parametrize("page", app.PAGES, ids=lambda page: page.title)
def test_every_page_opens_without_an_exception(page, dataset, temp_store):
    """For each dataset: its model in use (a Fashion-MNIST model is the active one), chosen on Dataset and Train."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    if dataset != "mnist":
        add_copy_of_default(temp_store, "clothes", dataset=dataset)
        at.session_state["active_model"] = "clothes"
        at.session_state["dataset_choice"] = dataset
        at.session_state["train_cnn-basic_dataset"] = dataset
    at.run()
    assert not at.exception
    at.switch_page(page.path).run()

    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.title, f"{page.title} drew no heading: its main() did not run"


MODULES = ["app", *(f"pages.{Path(page.path).stem}" for page in app.PAGES)]


@pytest.mark.parametrize("module", MODULES)
def test_importing_a_page_or_the_router_draws_nothing(module, monkeypatch):
    """Tests import a page's helpers, and Home imports app.py's page table: neither may run a page."""
    calls = []
    for command in ("title", "navigation", "set_page_config", "columns", "markdown", "subheader", "info"):
        monkeypatch.setattr(st, command, lambda *args, _name=command, **kwargs: calls.append(_name))
    monkeypatch.delitem(sys.modules, module, raising=False)

    imported = importlib.import_module(module)

    assert calls == []
    assert callable(imported.main)
