"""Fine-tune a stored model on the kept drawings: the Drawings page's Fine-tune tab.

Settings, then the plan (how many drawings train and how many are held out, or why not), then the run,
then before and after on the held-out drawings and MNIST test. The run happens in the page's own script
run, with a spinner and a progress bar fed by a Keras callback, not through the job registry the Train
page uses: a click elsewhere on the page while it trains stops it, and nothing is saved.
"""
from __future__ import annotations

import time

import streamlit as st

from core.drawings import DrawingsError, DrawingStore
from core.finetune import LIMITS, FineTuneError, FineTuneResult, FineTuneSettings, plan
from core.store import StoreError
from pages import resources, session
from pages.drawings_models import MODEL_KEY
from pages.formatting import duration, plain

TUNED = "drawings_tuned"             # the last FineTuneResult of this session
MNIST_TEST_LIMIT: int | None = None  # MNIST test digits scored before and after (None: all 10,000)


def progress_callback(bar):
    """A Keras callback moving `bar` along the batches (at most four updates a second)."""
    import keras

    class PageProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.epoch, self.shown = 0, 0.0

        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if time.monotonic() - self.shown < 0.25:
                return
            self.shown = time.monotonic()
            steps, epochs = self.params.get("steps") or 1, self.params.get("epochs") or 1
            bar.progress(min(1.0, (self.epoch * steps + batch + 1) / (epochs * steps)),
                         text=f"Training: epoch {self.epoch + 1} of {epochs}, batch {batch + 1} of {steps}")

        def on_train_end(self, logs=None):
            bar.progress(1.0, text="Testing the fine-tuned model on the held-out drawings and MNIST test...")

    return PageProgress()


def settings_ui() -> FineTuneSettings:
    a, b, c, d = st.columns(4)
    epochs = a.slider("Epochs", *LIMITS["epochs"], 3, key="tune_epochs")
    held = b.slider("Held out for testing", 10, 50, 25, step=5, format="%d%%", key="tune_held_out",
                    help="This share of your drawings is never trained on: the before/after figures are measured on it.")
    weight = c.slider("Weight of your drawings", 1, 20, 5, key="tune_weight",
                      help="Each of your training drawings is shown this many times per epoch.")
    mnist = d.number_input("MNIST digits mixed in", *LIMITS["mnist_samples"], 10_000, step=1_000, key="tune_mnist",
                           help="So that the model keeps reading MNIST while it learns your drawings.")
    return FineTuneSettings(epochs=epochs, held_out=held / 100, drawing_weight=weight, mnist_samples=int(mnist),
                            test_limit=MNIST_TEST_LIMIT)


def tune_ui(store: DrawingStore, count: int) -> None:
    """The Drawings page's Fine-tune tab: a base model and settings, the plan (or why not), the run, the result."""
    name = session.model_picker("Model to start from", key=MODEL_KEY, digits_only=True)
    if name is None:
        return
    st.caption("Trains a copy of this model a few more epochs on MNIST digits plus your drawings, and saves it "
               "as a new model. The model you start from is kept as it is.")
    settings = settings_ui()
    try:
        trained, held = plan(count, settings)
    except FineTuneError as exc:
        st.warning(plain(exc))
        result_ui()
        return
    st.markdown(f"**{trained}** of your {count} drawings to train on (each shown {settings.drawing_weight}×), "
                f"**{held}** held out for testing, plus {settings.mnist_samples:,} MNIST digits; "
                f"{settings.epochs} epoch{'s' * (settings.epochs > 1)}.")
    if st.button(f"Fine-tune {name}", key="tune_start", type="primary", icon=":material/model_training:"):
        run(name, store, settings)
    result_ui()


def run(name: str, store: DrawingStore, settings: FineTuneSettings) -> None:
    from core.finetune import fine_tune

    bar = st.progress(0.0, text="Testing the model before fine-tuning...")
    try:
        with st.spinner(f"Fine-tuning {name} on your drawings. Stay on this tab: a click elsewhere stops it.",
                        show_time=True):
            result = fine_tune(name, store, settings, store=resources.model_store(), callbacks=[progress_callback(bar)])
    except (FineTuneError, StoreError, DrawingsError) as exc:
        st.error(plain(exc))
        return
    except Exception as exc:  # a model Keras cannot train further (Streamlit's own stop is a BaseException)
        st.error(f"Fine-tuning {plain(name)} failed: {type(exc).__name__}: {plain(exc)}")
        return
    finally:
        bar.empty()
    st.session_state[TUNED] = result


def change(before: float, after: float, decimals: int) -> dict:
    """st.metric's delta: the change in percentage points, from the figure before."""
    points = round(100 * (after - before), decimals)
    since = f"from {before:.{decimals}%}"
    if not points:
        return dict(delta="no change", delta_color="off", delta_arrow="off", delta_description=since)
    return dict(delta=f"{points:+.{decimals}f} points", delta_description=since)


def use_model(name: str) -> None:
    session.set_active_model(name)
    st.session_state[MODEL_KEY] = name  # the picker above follows, rather than setting its own choice back


def result_ui() -> None:
    """Before and after, on the held-out drawings and MNIST test, and the new model with 'Use for drawing'."""
    result: FineTuneResult | None = st.session_state.get(TUNED)
    if result is None:
        return
    st.success(f"Saved as **{plain(result.model_name)}**: {plain(result.base)} fine-tuned in "
               f"{duration(result.train_seconds)}.", icon=":material/check_circle:")
    drawings_before, drawings_after = result.before["drawings_accuracy"], result.after["drawings_accuracy"]
    mnist_before, mnist_after = result.before["mnist_accuracy"], result.after["mnist_accuracy"]
    a, b, use = st.columns([2, 2, 1], vertical_alignment="center")
    a.metric(f"Held-out drawings ({result.held_out})", f"{drawings_after:.1%}",
             **change(drawings_before, drawings_after, 1),
             help="Your drawings that were kept out of training: the honest test of fine-tuning.")
    b.metric("MNIST test", f"{mnist_after:.2%}", **change(mnist_before, mnist_after, 2),
             help="Whether the model still reads MNIST's test digits as well as before.")
    use.button("Use for drawing", icon=":material/draw:", key="tune_use", on_click=use_model,
               args=(result.model_name,), disabled=session.active_model_name() == result.model_name)
