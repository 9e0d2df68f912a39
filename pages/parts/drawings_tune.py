"""The Drawings page's Fine-tune tab: what fine-tuning does, how many drawings it would use, and a link that
opens the Train page with the chosen model to start from and the drawings settings filled in.

The run itself happens on the Train page, through the job registry like any other run (queued, watched
live, stopped, its figures before and after shown when it ends): nothing trains in this page's script.
"""
from __future__ import annotations

import streamlit as st

from core.data import datasets
from core.fit import finetune
from core.fit.config import ConfigError
from core.store import StoreError
from core.workshop.links import query_from_config
from pages.parts import resources, session
from pages.parts.drawings_models import MODEL_KEY
from pages.parts.formatting import plain

TRAIN_PAGE = "pages/train.py"


def tune_ui(store, count: int) -> None:
    """A base model, the plan with the fine-tune defaults (or why not), and the link to the Train page."""
    name = session.model_picker("Model to start from", key=MODEL_KEY, digits_only=True)
    if name is None:
        return
    st.caption("Fine-tuning trains a copy of this model a few more epochs on MNIST digits plus your drawings "
               "and saves it as a new model; the model you start from is kept as it is. A share of your drawings "
               "is held out of training, so the figures before and after say whether it now reads drawings "
               "like yours better, and whether it still reads MNIST.")
    try:
        config = finetune.config_for(name, resources.model_store().read_meta(name))
    except StoreError as exc:
        session.show_store_error(exc)
        return
    except ConfigError as exc:  # a stored model whose own settings make no valid run
        st.error(plain(" ".join(exc.problems)))
        return
    try:
        trained, held = finetune.plan(count, config.drawings_held_out)
    except finetune.FineTuneError as exc:
        st.warning(plain(exc))
        return
    spec = datasets.get(config.dataset)
    mnist, checked = datasets.split_sizes(spec.train_size, config.validation_split, config.limit)
    also = f" ({checked:,} more to check each epoch)" if checked else ""
    st.markdown(f"**{trained}** of your {count} drawings to train on (each shown {config.drawings_weight}×), "
                f"**{held}** held out for testing, plus {mnist:,} {spec.title} digits{also}; "
                f"{config.epochs} epoch{'s' * (config.epochs > 1)} at learning rate {config.learning_rate:g}.")
    st.page_link(TRAIN_PAGE, label=f"Fine-tune {name} on the Train page", icon=":material/model_training:",
                 query_params=query_from_config(config))
    st.caption("The Train page opens with these settings; change them there if you like, then press "
               "**Start training**. It shows the run live, and the figures before and after when it ends.")
