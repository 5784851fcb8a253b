"""Static reveal.js decks of the notebooks that work offline (``make slides``).

    python scripts/slides.py                                  # every notebook -> slides/
    python scripts/slides.py --out /tmp/deck notebooks/03_episodes.ipynb
    python scripts/slides.py --solutions                      # the instructor's decks

Each deck ``<name>.slides.html`` is built by nbconvert's slides exporter from the stored
outputs (nothing is executed) with the slide metadata of ``scripts/slide_metadata.py``. Nothing
is loaded from a CDN: reveal.js comes from the vendored copy in ``slides/vendor/reveal.js``
(copied next to the decks when they go elsewhere), require.js, jQuery and Mermaid are left
out, widgets show a note (they need a kernel: present with RISE for those), and cells tagged
``hide-input`` show only their output. By default a deck is the students' one: each "Your
turn" cell shows its stub (``scripts/make_student.py``), never the solution; ``--solutions``
(``make slides SOLUTIONS=1``) builds the instructor's deck with them. Marker comments
(``### BEGIN/END SOLUTION``, ``# NBVAL_CHECK_OUTPUT``) never reach a slide. Maths is typeset
by the local MathJax 2 of the ``jupyter-server-mathjax`` package (a dependency; without it
maths shows as TeX source).

Every slide fits the 1280x720 deck without scrolling: the metadata splits long slides into
sub-slides and hides code that is not the lesson; the deck's CSS caps figures
(``object-fit: contain``) and keeps text outputs unbroken (``white-space: pre``); a small script
(``FIT_SCRIPT``) shrinks a too-wide ``pre``'s font, then a too-tall slide's figures, then the
slide itself, within the floors of ``slide_metadata.py``. ``tests/browser/test_slides.py``
checks every slide of every deck in Chromium.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from pathlib import Path

import nbformat
from jinja2 import DictLoader
from make_student import student_version
from nbconvert import SlidesExporter
from nbconvert.preprocessors import Preprocessor
from slide_metadata import FIGURE_MAX_HEIGHT, MIN_FIGURE_HEIGHT, MIN_TEXT_SCALE, SLIDE_SIZE
from traitlets.config import Config

from lecture_utils.core.store import atomic_write

REPO = Path(__file__).resolve().parent.parent
VENDOR = REPO / "slides" / "vendor"
REVEAL = "vendor/reveal.js"
MATHJAX = "vendor/mathjax"
WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
WIDGET_NOTE = (
    "Interactive widget: it needs a running kernel. Present the notebook with RISE "
    "(JupyterLab: command palette ▸ Open as Reveal Slideshow) to use it."
)
# What would make a browser fetch from another host (links, <a href>, are fine).
REMOTE = re.compile(
    r"""(?:\bsrc\s*=\s*["']?|<link\b[^>]*\bhref\s*=\s*["']?|url\(\s*["']?)(?:https?:)?//""",
    re.IGNORECASE,
)

TEMPLATE = """{%- extends 'index.html.j2' -%}
{% from 'mathjax.html.j2' import mathjax %}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{% block jupyter_widgets %}{% endblock jupyter_widgets %}
{%- block html_head_js_mathjax -%}
{%- if resources.local_mathjax -%}
<script type="text/x-mathjax-config">
MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], webFont: "STIX-Web", imageFont: null}});
</script>
{{ mathjax(resources.local_mathjax) }}
{%- endif -%}
{%- endblock html_head_js_mathjax -%}
{% block footer_js %}
<script src="{{ resources.reveal.url_prefix }}/dist/reveal.js"></script>
<script src="{{ resources.reveal.url_prefix }}/plugin/notes/notes.js"></script>
<script>
Reveal.initialize({
  controls: true, progress: true, history: true, center: false,
  transition: "{{ resources.reveal.transition }}",
  slideNumber: "{{ resources.reveal.number }}",
  width: {{ resources.reveal.width }}, height: {{ resources.reveal.height }},
  plugins: [RevealNotes]
});
</script>
{{ resources.fit_script }}
{% endblock footer_js %}
"""


# How a slide is made to fit the 1280x720 deck (its pixels, before reveal's own scaling): the
# limits are shared with slide_metadata.py, whose estimates assume them.
FIT_STYLE = f"""<style>
.reveal .slides section {{ overflow-y: auto; max-height: 100%; box-sizing: border-box; }}
.reveal .jp-RenderedImage img {{
  width: auto; height: auto; max-width: 100%; max-height: {FIGURE_MAX_HEIGHT}px;
  object-fit: contain; margin: 4px 0;
}}
.reveal div.jp-OutputArea-output > pre, .reveal div.highlight > pre,
.reveal .jp-RenderedMarkdown pre {{
  width: 100%; box-sizing: border-box; white-space: pre; word-break: normal;
  overflow-wrap: normal; overflow: hidden;
}}
.reveal pre code {{ font-size: inherit; white-space: inherit; }}
</style>"""
# Last-resort fit of the slide on screen, after MathJax has typeset it: a too-wide ``pre`` gets a
# smaller font, or if that would not be enough wraps between words (never inside one); a slide still
# taller than the deck first shrinks its figures (object-fit keeps their aspect), then zooms its
# content (CSS ``zoom``, so the layout itself shrinks), neither below the floors of
# slide_metadata.py. ``data-fit-scale`` records the zoom.
FIT_SCRIPT = """<script>
(function () {
  const MIN_TEXT = @MIN_TEXT@, MIN_FIGURE = @MIN_FIGURE@;
  function fit(s) {
    if (!s || !s.isConnected) return;
    const H = Reveal.getConfig().height;
    const kids = Array.from(s.children);
    kids.forEach(k => { k.style.zoom = ''; });
    s.querySelectorAll('pre').forEach(pre => { pre.style.fontSize = pre.style.whiteSpace = ''; });
    s.querySelectorAll('.jp-RenderedImage img').forEach(img => { img.style.maxHeight = ''; });
    s.querySelectorAll('pre').forEach(pre => {
      const size = parseFloat(getComputedStyle(pre).fontSize);
      if (pre.clientWidth < MIN_TEXT * pre.scrollWidth) {  // too wide to shrink: wrap it
        pre.style.whiteSpace = 'pre-wrap';
      }
      for (let i = 0; i < 3 && pre.scrollWidth > pre.clientWidth + 1; i++) {
        const now = parseFloat(getComputedStyle(pre).fontSize);
        const next = Math.max(MIN_TEXT * size, now * pre.clientWidth / pre.scrollWidth - 0.1);
        pre.style.fontSize = next + 'px';
      }
      if (pre.scrollWidth > pre.clientWidth + 1) pre.style.whiteSpace = 'pre-wrap';
    });
    const imgs = Array.from(s.querySelectorAll('.jp-RenderedImage img'));
    if (s.scrollHeight > H && imgs.length) {
      const heights = imgs.map(img => img.getBoundingClientRect().height / Reveal.getScale());
      const total = heights.reduce((a, b) => a + b, 0), excess = s.scrollHeight - H + 4;
      const factor = Math.max(0, (total - excess) / total);
      imgs.forEach((img, i) => {
        img.style.maxHeight = Math.max(MIN_FIGURE, heights[i] * factor) + 'px';
      });
    }
    const fits = z => { kids.forEach(k => { k.style.zoom = z; }); return s.scrollHeight <= H; };
    let zoom = 1;
    if (!fits(1)) {  // the largest zoom that fits (text reflows, so search), not below the floor
      let lo = MIN_TEXT, hi = 1;
      if (fits(lo)) {
        for (let i = 0; i < 7; i++) {
          const mid = (lo + hi) / 2;
          if (fits(mid)) lo = mid; else hi = mid;
        }
      }
      zoom = lo;
      fits(zoom);
    }
    s.dataset.fitScale = zoom.toFixed(3);
  }
  function later(s) {
    if (window.MathJax && MathJax.Hub) {
      MathJax.Hub.Queue(['Typeset', MathJax.Hub, s], [fit, s]);
    } else {
      fit(s);
    }
  }
  window.fitSlide = fit;
  const current = () => later(Reveal.getCurrentSlide());
  Reveal.on('slidechanged', event => later(event.currentSlide));
  if (Reveal.isReady()) current(); else Reveal.on('ready', current);
  document.querySelectorAll('.reveal .jp-RenderedImage img').forEach(img => {
    img.addEventListener('load', () => {
      if (img.closest('section') === Reveal.getCurrentSlide()) later(Reveal.getCurrentSlide());
    });
  });
})();
</script>"""
FIT_SCRIPT = FIT_SCRIPT.replace("@MIN_TEXT@", str(MIN_TEXT_SCALE))
FIT_SCRIPT = FIT_SCRIPT.replace("@MIN_FIGURE@", str(MIN_FIGURE_HEIGHT))


class WidgetNote(Preprocessor):
    """Replace widget views (which need a kernel) with a short note."""

    def preprocess_cell(self, cell, resources, index):
        for out in cell.get("outputs", []):
            if WIDGET_MIME in out.get("data", {}):
                out["data"] = {
                    "text/html": f'<p class="offline-widget"><em>{WIDGET_NOTE}</em></p>',
                    "text/plain": WIDGET_NOTE,
                }
        return cell, resources


def local_mathjax() -> Path | None:
    """The MathJax 2 folder of the ``jupyter-server-mathjax`` package, if installed."""
    try:
        import jupyter_server_mathjax
    except ImportError:
        return None
    static = Path(jupyter_server_mathjax.__file__).parent / "static"
    return static if (static / "MathJax.js").is_file() else None


def exporter(mathjax: bool) -> SlidesExporter:
    config = Config()
    config.SlidesExporter.reveal_url_prefix = REVEAL
    config.SlidesExporter.reveal_theme = "white"
    config.SlidesExporter.reveal_transition = "none"
    config.SlidesExporter.reveal_width = str(SLIDE_SIZE[0])
    config.SlidesExporter.reveal_height = str(SLIDE_SIZE[1])
    config.SlidesExporter.exclude_input_prompt = True
    config.SlidesExporter.exclude_output_prompt = True
    config.TagRemovePreprocessor.enabled = True
    config.TagRemovePreprocessor.remove_input_tags = {"hide-input"}
    exp = SlidesExporter(config=config, extra_loaders=[DictLoader({"offline.j2": TEMPLATE})])
    exp.template_file = "offline.j2"
    exp.register_preprocessor(WidgetNote(), enabled=True)
    exp.local_mathjax = mathjax
    return exp


def copy_assets(out: Path, mathjax: Path | None) -> None:
    """Put reveal.js (and MathJax, if available) under ``out/vendor``."""
    if (out / "vendor").resolve() != VENDOR.resolve():
        shutil.copytree(VENDOR / "reveal.js", out / REVEAL, dirs_exist_ok=True)
    if mathjax is not None and not (out / MATHJAX / "MathJax.js").is_file():
        shutil.copytree(
            mathjax, out / MATHJAX, ignore=shutil.ignore_patterns("localization", "a11y", "SVG")
        )


MARKERS = re.compile(r"^[ \t]*(### (BEGIN|END) SOLUTION|# NBVAL_\w+)[^\n]*\n?", re.MULTILINE)


def deck_notebook(nb: nbformat.NotebookNode, solutions: bool) -> nbformat.NotebookNode:
    """What a deck shows: the student version unless ``solutions``; marker comments removed."""
    nb = nbformat.reads(nbformat.writes(nb), as_version=4) if solutions else student_version(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.source = MARKERS.sub("", cell.source)
    nb.metadata.pop("widgets", None)
    return nb


def build(path: Path, out: Path, solutions: bool = False) -> Path:
    """Write ``out/<name>.slides.html`` for one notebook (the students' deck unless
    ``solutions``); return its path."""
    mathjax = local_mathjax()
    out.mkdir(parents=True, exist_ok=True)
    copy_assets(out, mathjax)
    nb = deck_notebook(nbformat.read(path, as_version=4), solutions)
    resources = {"metadata": {"name": path.stem}, "fit_script": FIT_STYLE + FIT_SCRIPT}
    if mathjax is not None:
        resources["local_mathjax"] = f"{MATHJAX}/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full"
    html, _ = exporter(mathjax is not None).from_notebook_node(nb, resources=resources)
    remote = REMOTE.findall(html)
    if remote:
        raise RuntimeError(f"{path.name}: the deck would load {len(remote)} remote resource(s)")
    deck = out / f"{path.stem}.slides.html"
    atomic_write(deck, lambda tmp: tmp.write_text(html, encoding="utf-8"))
    return deck


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path)
    parser.add_argument("--out", type=Path, default=REPO / "slides")
    parser.add_argument("--solutions", action="store_true", help="the instructor's decks")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted((REPO / "notebooks").glob("*.ipynb"))
    if local_mathjax() is None:
        print("note: jupyter-server-mathjax is not installed, so maths shows as TeX source")
    for path in paths:
        deck = build(path, args.out, solutions=args.solutions)
        print(f"{path.name} -> {deck} ({deck.stat().st_size / 1e3:.0f} kB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
