"""Slides in a real browser: RISE in JupyterLab, and static decks opened with the network off
(every slide of every deck fits the projector's 1280x720 without scrolling).

Uses the JupyterLab/Playwright harness and Debian's Chromium (skips locally without them,
fails under ``CI=true``). The RISE test runs notebook 03, so it also needs ``$OMNIGLOT_DIR``.
"""

from __future__ import annotations

import html
import json
import os
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest
from jupyterlab_browser import (
    PRESENT,
    WIDGET_ERROR,
    RiseDeck,
    chromium_page,
    misfits,
    notebook_run_in_lab,
    offline_page,
    slide_fit,
    slide_positions,
    stage_notebook,
)
from shared import NOTEBOOK_DIR, REPO_ROOT

sys.path.insert(0, str(REPO_ROOT / "scripts"))
import slide_metadata as sm  # noqa: E402

import slides  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

EPISODES = NOTEBOOK_DIR / "03_episodes.ipynb"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
# jupyterlab-rise's standalone app (<= 0.43.1) lacks @jupyterlab/console in its shared scope, so
# jupyterlab_widgets >= 3.0.11 cannot load there (jupyterlab-contrib/rise#119); pyproject.toml pins
# jupyterlab_widgets 3.0.10, which does not need it. This message means the pin was lost.
RISE_WIDGETS_BUG = "Shared module @jupyterlab/console doesn't exist in shared scope"
# jupyterlab-rise 0.43.1 bundles @jupyter/web-components 0.13 and resolves the app's 0.16 (its own
# "Unsatisfied version" warnings): the design-token observers recurse, logging this error from
# its bundle on activation, before any notebook is loaded. Upstream; nothing a notebook can fix.
RISE_UPSTREAM_ERRORS = ("RangeError: Maximum call stack size exceeded",)


def first_cell_with(nb: dict, mime: str) -> int:
    return next(
        i
        for i, cell in enumerate(nb["cells"])
        if any(mime in out.get("data", {}) for out in cell.get("outputs", []))
    )


def expected_deck(nb: dict) -> dict:
    counts = sm.slide_counts(nb)
    return {"slides": counts["slide"], "leaves": counts["slide"] + counts["subslide"]}


def shot_dir(tmp_path: Path) -> Path:
    return Path(os.environ.get("BROWSER_SCREENSHOT_DIR", tmp_path))


@pytest.mark.browser
@pytest.mark.real_data
def test_rise_slideshow_renders_figures_and_widgets(
    browser_ready: None, real_data: Path, tmp_path: Path
) -> None:
    stored = json.loads(EPISODES.read_text())
    positions = slide_positions(stored)
    figure_at = positions[first_cell_with(stored, "image/png")]
    widget_at = positions[first_cell_with(stored, WIDGET_MIME)]
    staged = stage_notebook(EPISODES, tmp_path / "root")
    fast = {"LECTURE_FAST_MODE": "1"}
    with notebook_run_in_lab(staged, tmp_path / "home", env=fast) as (nb, status):
        assert not status["errors"], "\n".join(status["errors"])
        nb.command("docmanager:save")  # RISE presents the saved notebook, on the same kernel

        deck = RiseDeck(nb.page, nb.server, staged.name)
        try:
            assert deck.open() == expected_deck(stored)
            title = deck.page.locator(PRESENT).first
            # The title slide shows the seed cell's output only (README), not its first line.
            assert "import" not in title.inner_text(), title.inner_text()[:300]
            assert title.locator(".jp-InputPlaceholder:visible").count() == 0

            slide = deck.go_to(*figure_at)
            img = slide.locator(".jp-RenderedImage img").first
            img.wait_for(state="visible")
            assert img.evaluate("el => el.complete && el.naturalWidth > 0")

            slide = deck.go_to(*widget_at)
            assert "Episode explorer" in slide.inner_text() or "EPISODE EXPLORER" in (
                slide.inner_text()
            )
            body = deck.page.locator("body").inner_text()
            assert WIDGET_ERROR not in body, f"'{WIDGET_ERROR}' shown in the slideshow"
            widgets = slide.locator(".jupyter-widgets")
            assert not any(RISE_WIDGETS_BUG in m for m in deck.console), (
                "the widget manager did not load in RISE (rise#119): install "
                "jupyterlab-widgets<3.0.11 as pinned in pyproject.toml"
            )
            widgets.first.wait_for(state="visible")
            assert slide.locator(".widget-slider").count() == 4

            # A focused slider keeps the arrow keys: its value moves, the slide does not.
            shown = deck.page.locator(PRESENT).first.get_attribute("id")
            readout = slide.locator(".widget-readout").first
            before = readout.inner_text()
            slide.locator(".widget-slider .noUi-handle").first.click()
            deck.page.keyboard.press("ArrowRight")
            deck.page.wait_for_timeout(800)
            assert deck.page.locator(PRESENT).first.get_attribute("id") == shown, (
                "ArrowRight on a focused slider changed the slide (widget_panel.keyboard_guard)"
            )
            assert readout.inner_text() == str(int(before) + 1)

            errors = [
                m
                for m in deck.console
                if m.startswith(("error:", "pageerror:"))
                and not any(known in m for known in RISE_UPSTREAM_ERRORS)
            ]
            assert not errors, "console errors in the slideshow:\n" + "\n".join(errors)
        finally:
            deck.page.screenshot(path=str(shot_dir(tmp_path) / "03_rise_slide.png"))


@pytest.mark.browser
def test_static_deck_renders_offline(browser_ready: None, tmp_path: Path) -> None:
    stored = json.loads(EPISODES.read_text())
    deck_path = slides.build(EPISODES, tmp_path / "deck")
    figure_at = slide_positions(stored)[first_cell_with(stored, "image/png")]
    with chromium_page() as page, offline_page(page) as blocked:
        errors: list[str] = []
        failed: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.on("requestfailed", lambda req: failed.append(req.url))
        page.set_viewport_size({"width": 1280, "height": 720})
        page.goto(deck_path.as_uri())
        page.wait_for_function("() => window.Reveal && Reveal.isReady()")
        assert page.locator(".reveal .slides section").count() > 0
        counts = page.evaluate(
            "() => ({slides: Reveal.getHorizontalSlides().length, leaves: Reveal.getTotalSlides()})"
        )
        assert counts == expected_deck(stored)
        page.evaluate("([h, v]) => Reveal.slide(h, v)", list(figure_at))
        img = page.locator(".reveal .slides section.present .jp-RenderedImage img").first
        img.wait_for(state="visible")
        assert img.evaluate("el => el.complete && el.naturalWidth > 0")
        if slides.local_mathjax() is not None:
            page.wait_for_function("() => document.querySelectorAll('.MathJax').length > 0")
        page.screenshot(path=str(shot_dir(tmp_path) / "03_static_deck.png"))
        assert not blocked, f"the deck tried to reach other hosts: {blocked}"
        assert not errors, errors
        reveal_failures = [url for url in failed if "/vendor/reveal.js/" in url]
        assert not reveal_failures, reveal_failures


def test_decks_refuse_remote_resources(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell('# Title\n\n<img src="https://example.com/x.png">')]
    path = tmp_path / "remote.ipynb"
    nbformat.write(nb, path)
    with pytest.raises(RuntimeError, match="remote resource"):
        slides.build(path, tmp_path / "deck")
    nb.cells[0].source = "# Title\n\nA [link](https://example.com) is fine."
    nbformat.write(nb, path)
    html = slides.build(path, tmp_path / "deck").read_text()
    assert 'href="https://example.com"' in html and "vendor/reveal.js/dist/reveal.js" in html


def test_decks_replace_widgets_by_a_note_and_hide_plumbing_input(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook()
    widget = {"model_id": "abc", "version_major": 2, "version_minor": 0}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell(
            "SECRET_SETUP = 1",
            metadata={"tags": ["hide-input"]},
            outputs=[nbformat.v4.new_output("stream", text="ready\n")],
        ),
        nbformat.v4.new_code_cell(
            "show()",
            outputs=[nbformat.v4.new_output("display_data", data={WIDGET_MIME: widget})],
        ),
    ]
    path = tmp_path / "w.ipynb"
    nbformat.write(nb, path)
    html = slides.build(path, tmp_path / "deck").read_text()
    assert "SECRET_SETUP" not in html and "ready" in html
    assert "Interactive widget" in html and WIDGET_MIME not in html


def test_decks_hide_solutions_unless_asked(tmp_path: Path) -> None:
    """The default deck shows the stub of every exercise; SOLUTIONS=1 shows the solution; no
    deck shows a marker comment."""

    def text(deck: Path) -> str:  # the deck's text, without the highlighting markup
        return html.unescape(re.sub(r"<[^>]+>", "", deck.read_text()))

    student = text(slides.build(EPISODES, tmp_path / "student"))
    teacher = text(slides.build(EPISODES, tmp_path / "teacher", solutions=True))
    solution = "argsort(dim=1)"  # in 03's label-permutation solution, not in its stub or hint
    nb = nbformat.read(EPISODES, as_version=4)
    exercises = [c.source for c in nb.cells if "exercise" in c.metadata.get("tags", [])]
    assert any(solution in source for source in exercises)
    assert solution not in student and "YOUR CODE HERE" in student
    assert solution in teacher
    for deck in (student, teacher):
        assert "BEGIN SOLUTION" not in deck and "NBVAL_CHECK_OUTPUT" not in deck


VIEWPORT = {"width": 1280, "height": 720}


def deck_misfits(page: Page, deck: Path) -> list[str]:
    """Open ``deck`` offline at 1280x720; every slide that does not fit, named with the deck."""
    with offline_page(page) as blocked:
        page.set_viewport_size(VIEWPORT)
        page.goto(deck.as_uri())
        page.wait_for_function("() => window.Reveal && Reveal.isReady()")
        slides_seen = slide_fit(page)
        assert not blocked, f"{deck.name} tried to reach other hosts: {blocked}"
    assert len(slides_seen) == page.evaluate("() => Reveal.getTotalSlides()")
    return [f"{deck.name} {problem}" for problem in misfits(slides_seen)]


@pytest.mark.browser
@pytest.mark.parametrize("solutions", [False, True], ids=["students", "instructor"])
def test_every_slide_fits_1280x720(browser_ready: None, tmp_path: Path, solutions: bool) -> None:
    """Walk every slide and sub-slide of every deck as the viewer sees it: none is taller or
    wider than the slide or the window, and no text in it is clipped or scrolls."""
    decks = [
        slides.build(path, tmp_path, solutions=solutions)
        for path in sorted(NOTEBOOK_DIR.glob("*.ipynb"))
    ]
    assert len(decks) >= 7
    with chromium_page() as page:
        problems = [problem for deck in decks for problem in deck_misfits(page, deck)]
    assert not problems, "slides that do not fit 1280x720:\n" + "\n".join(problems)


@pytest.mark.browser
def test_fit_check_catches_oversized_slides(browser_ready: None, tmp_path: Path) -> None:
    """The check above can fail: a planted tall block and a planted unbreakable output line,
    which no fitting can absorb, are reported with their deck, slide and first words."""
    deck = slides.build(EPISODES, tmp_path)
    text = deck.read_text()
    first, last = "<section><section>", "</section></section>\n</div>"
    assert text.count(first) > 2 and text.count(last) == 1
    tall = '<div style="height: 3000px">PLANTED tall block</div>'
    wide = (
        '<div class="jp-RenderedText jp-OutputArea-output"><pre>PLANTED '
        + "x" * 600
        + "</pre></div>"
    )
    text = text.replace(first, first + tall, 1).replace(last, wide + last)
    planted = tmp_path / "planted.slides.html"
    planted.write_text(text)
    with chromium_page() as page:
        problems = deck_misfits(page, planted)
        last_h = page.evaluate("() => Reveal.getHorizontalSlides().length - 1")
        assert deck_misfits(page, deck) == []
    assert len(problems) == 2, problems
    assert problems[0].startswith("planted.slides.html slide 0.0 ('PLANTED tall block")
    assert "px tall > 720" in problems[0]
    assert problems[1].startswith(f"planted.slides.html slide {last_h}.")
    assert "clipped pre" in problems[1] or "px wide > 1280" in problems[1]
