"""Inside the network in a real browser: a 7 drawn with the mouse on Draw, then the Inside page on it.

Checks the pictures arrive (every img decoded, the answer the same as Draw's), saves screenshots
(tests/artifacts/inside.png: the top of the page as a projector shows it; inside-full.png: all of it),
and measures a what-if slider step to the changed answer on the page (a figure, never asserted).
"""
from __future__ import annotations

import re
import statistics

import pytest

from .helpers import (
    ARTIFACTS,
    canvas_box,
    draw_stroke,
    main_text,
    screenshot,
    wait_for_app,
    wait_for_main_text,
    wait_until_rendered,
)

EMBEDDING_TIMEOUT_MS = 240_000  # the first visit passes 70,000 images through the model (two shared cores)
SLIDER_STEPS = 6
SEVEN = [(60, 60), (140, 58), (215, 60), (170, 140), (125, 235)]

_IMAGES_LOADED_JS = """() => {
    const images = [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImage"] img')];
    return images.length > 0 && images.every(img => img.complete && img.naturalWidth > 0) ? images.length : 0;
}"""
# From the key press until the page says the new shift and the run that drew it (the fragment) has ended.
_SHIFT_SHOWN_AFTER_MS_JS = """([source, start]) => {
    const app = document.querySelector('[data-testid="stApp"]');
    const main = document.querySelector('[data-testid="stMain"]');
    if (!app || app.getAttribute('data-test-script-state') !== 'notRunning') return null;
    if (!main || !new RegExp(source).test(main.innerText)) return null;
    return performance.now() - start;
}"""


@pytest.fixture
def app_url(shipped_app_url):
    return shipped_app_url


def go_by_sidebar(page, title: str) -> None:
    """Switch pages in the same session, as a user does (page.goto would start a new session)."""
    page.locator('[data-testid="stSidebarNav"]').get_by_role("link", name=title).click()


def test_a_drawing_looked_inside(page, app_url):
    page.goto(f"{app_url}/draw")
    wait_for_app(page)
    box = canvas_box(page)
    draw_stroke(page, SEVEN, box=box)
    drawn = int(wait_for_main_text(page, r"Predicted digit\s+(\d)").group(1))

    go_by_sidebar(page, "Inside the network")
    wait_for_main_text(page, r"A map of the test set", timeout=EMBEDDING_TIMEOUT_MS)
    text = wait_for_main_text(page, r"Predicted\s+(\d)\s").string
    assert re.search(rf"Predicted\s+{drawn}\s", text), "Inside reads the drawing as Draw did"
    assert "your drawing: what the network gets, 28 x 28" in text
    for heading in ("What it answers, and why", "Why preprocessing matters", "Layer by layer",
                    "What the first layer learned", "The closest training images", "A map of the test set"):
        assert heading in text
    page.wait_for_function(_IMAGES_LOADED_JS)
    loaded = page.evaluate(_IMAGES_LOADED_JS)
    assert loaded >= 2 + 5 + 11 + 1 + 8, f"{loaded} pictures"  # input, saliency, variants, layers, kernels, neighbours
    star = page.locator('[data-testid="stVegaLiteChart"]')
    star.wait_for(state="visible")
    assert page.locator('[data-testid="stException"]').count() == 0

    big = page.locator('[data-testid="stImage"] img').first.bounding_box()
    assert big and big["width"] >= 200, f"the input should be shown large: {big}"
    wait_until_rendered(page, settle_ms=1500)
    page.locator('[data-testid="stMain"]').evaluate("main => main.scrollTo(0, 0)")
    screenshot(page, "inside", full_page=False)
    page.set_viewport_size({"width": 1400, "height": 6200})
    wait_until_rendered(page, settle_ms=1500)
    screenshot(page, "inside-full", full_page=False)
    page.set_viewport_size({"width": 1400, "height": 1000})

    # What-if: each arrow press moves the drawing one pixel right; time until the page says so.
    thumb = page.locator('.st-key-inside_dx input[type="range"]')
    thumb.scroll_into_view_if_needed()
    latencies = []
    for step in range(1, SLIDER_STEPS + 1):
        thumb.focus()
        start = page.evaluate("performance.now()")
        thumb.press("ArrowRight")
        handle = page.wait_for_function(_SHIFT_SHOWN_AFTER_MS_JS, arg=[rf"moved \+{step} right", start],
                                        polling="raf")
        latencies.append(float(handle.json_value()))
        wait_for_app(page)
    assert "Layer by layer" in main_text(page)  # the fragment reran; the rest stayed
    line = (f"Inside page, what-if slider key press -> changed answer shown: median {statistics.median(latencies):.0f} ms "
            f"over {len(latencies)} steps (each: {', '.join(f'{t:.0f}' for t in latencies)} ms)")
    print("\n" + line)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / "inside_latency.txt").write_text(line + "\n")


_CLASS_CAPTIONS_JS = """() => [...document.querySelectorAll('[data-testid="stMain"] [data-testid="stImageCaption"]')]
    .map(c => c.innerText.trim()).filter(t => /^\\d: \\d+%$/.test(t)).length"""


def show_more(page, view: str) -> None:
    """Pick one of the further views under "More ways in" and wait for its run."""
    page.locator(".st-key-inside_more").locator("button", has_text=view).click()
    wait_for_app(page, timeout=EMBEDDING_TIMEOUT_MS)


def test_imagine_fool_a_drawing_and_open_a_point_of_the_map(page, app_url):
    """The ten class images, an attack on a drawn digit with ε raised until it flips, then a click on the map."""
    page.goto(f"{app_url}/draw")
    wait_for_app(page)
    draw_stroke(page, SEVEN, box=canvas_box(page))
    wait_for_main_text(page, r"Predicted digit\s+(\d)")
    go_by_sidebar(page, "Inside the network")
    wait_for_main_text(page, r"More ways in", timeout=EMBEDDING_TIMEOUT_MS)
    wait_for_app(page, timeout=EMBEDDING_TIMEOUT_MS)

    show_more(page, "What it imagines")
    page.wait_for_function(f"() => ({_CLASS_CAPTIONS_JS})() === 10", timeout=EMBEDDING_TIMEOUT_MS)
    page.get_by_text("What each class looks like to the network").scroll_into_view_if_needed()
    wait_until_rendered(page, settle_ms=800)
    screenshot(page, "inside-imagine", full_page=False)

    show_more(page, "Fool it")
    wait_for_main_text(page, r"ε = 26/255")
    page.locator(".st-key-inside_attack_method").locator("button", has_text="FGSM").click()
    wait_for_app(page)
    thumb = page.locator('.st-key-inside_attack_eps input[type="range"]')
    thumb.scroll_into_view_if_needed()
    thumb.focus()
    thumb.press("Home")  # down to ε = 0 in one step (one rerun, where 26 arrow presses made 26): not fooled
    wait_for_main_text(page, r"ε = 0/255")
    wait_for_main_text(page, r"Not fooled: it still reads")
    levels = 0
    while "Fooled: it now reads" not in main_text(page) and levels < 255:
        thumb.focus()
        thumb.press("PageUp")  # a tenth of the range a step, as the keyboard offers
        levels = int(wait_for_main_text(page, rf"ε = (?!{levels}/)(\d+)/255").group(1))
    assert "Fooled: it now reads" in main_text(page), "some ε up to 1 fools the shipped CNN"
    page.get_by_text("The change, amplified").scroll_into_view_if_needed()
    wait_until_rendered(page, settle_ms=800)
    screenshot(page, "inside-fool", full_page=False)

    show_more(page, "Projector")
    chart = page.locator(".st-key-inside_projector_chart")
    chart.scroll_into_view_if_needed()
    wait_until_rendered(page, settle_ms=1500)
    screenshot(page, "inside-projector", full_page=False)
    box = chart.locator("canvas").first.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    opened = wait_for_main_text(page, r"test image #(\d+): what the network gets", timeout=EMBEDDING_TIMEOUT_MS)
    assert int(opened.group(1)) >= 0
    assert page.locator('[data-testid="stException"]').count() == 0


def test_the_further_views_in_presenter_view(page, app_url):
    page.set_viewport_size({"width": 1920, "height": 1080})
    page.goto(f"{app_url}/inside?present=1")
    wait_for_main_text(page, r"More ways in", timeout=EMBEDDING_TIMEOUT_MS)
    wait_for_app(page, timeout=EMBEDDING_TIMEOUT_MS)
    show_more(page, "Its graph")
    diagram = page.locator('[data-testid="stImage"]', has_text="the input at the top left").locator("img")
    diagram.scroll_into_view_if_needed()
    wait_until_rendered(page, settle_ms=800)
    screenshot(page, "presenter_inside_graph", full_page=False)
    box = diagram.bounding_box()
    assert box and box["width"] >= 1000, box  # the diagram takes the page's width in presenter view
    show_more(page, "What it imagines")
    page.get_by_text("What each class looks like to the network").scroll_into_view_if_needed()
    wait_until_rendered(page, settle_ms=800)
    screenshot(page, "presenter_inside_imagine", full_page=False)
    assert page.locator('[data-testid="stException"]').count() == 0
