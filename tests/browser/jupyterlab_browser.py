"""Reusable harness: JupyterLab on loopback, driven by Debian's headless Chromium via Playwright.

Typical use in a test::

    with jupyterlab_server(root_dir=tmp_path / "root", home=tmp_path / "home") as server:
        with chromium_page() as page:
            nb = LabNotebook(page, server, stage_notebook(src, tmp_path / "root").name)
            nb.open()
            nb.run_all()
            nb.assert_rendered()
            cell = nb.cell_with(".widget-dropdown")
            nb.wait_for_change(cell.locator(".widget-output"), lambda: nb.select(cell, "Greek"))

or, for the usual start (stage, serve, open, run all) in one step::

    staged = stage_notebook(src, tmp_path / "root")
    with notebook_run_in_lab(staged, tmp_path / "home") as (nb, status):
        assert not status["errors"]

Everything JupyterLab writes (config, data, runtime, settings, workspaces) goes to a temporary
folder; the notebook is copied there with its outputs cleared, so the repository's stored
outputs are never touched and everything asserted was produced by this run. Never downloads a
browser: it uses ``/usr/bin/chromium`` (``apt-get install chromium``).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
from shared import REPO_ROOT

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Lab settings for a deterministic DOM: every cell rendered (no windowing), no news pop-up.
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}
FIGURES = ".jp-OutputArea .jp-RenderedImage img"
WIDGETS = ".jp-OutputArea .jupyter-widgets"
WIDGET_ERROR = "Error displaying widget"

# One status object about the open notebook, computed in the page via the exposed app.
_STATUS_JS = """(name) => {
  const app = window.jupyterapp;
  if (!app) return {ready: false, reason: 'window.jupyterapp missing'};
  const panel = Array.from(app.shell.widgets('main'))
      .find(w => w.context && w.context.path === name && w.content && w.content.widgets);
  if (!panel) return {ready: false, reason: 'notebook not open yet'};
  const kernel = panel.sessionContext.session && panel.sessionContext.session.kernel;
  const code = panel.content.widgets.filter(c => c.model.type === 'code');
  const errors = [];
  code.forEach((cell, i) => {
    for (let k = 0; k < cell.model.outputs.length; k++) {
      const out = cell.model.outputs.get(k).toJSON();
      if (out.output_type === 'error') {
        errors.push(`code cell ${i + 1}: ${out.ename}: ${out.evalue}`);
      }
    }
  });
  return {
    ready: true,
    kernel: kernel ? kernel.status : 'none',
    cells: code.length,
    executed: code.filter(c => c.model.executionCount !== null).length,
    running: code.filter(c => c.model.executionState === 'running').length,
    errors,
  };
}"""


def chromium_available() -> bool:
    return CHROMIUM.is_file() and os.access(CHROMIUM, os.X_OK)


def playwright_available() -> bool:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stage_notebook(source: Path, dest_dir: Path) -> Path:
    """Copy a notebook into ``dest_dir`` with every output and execution count cleared, with the
    slide styles RISE loads from its folder (``rise.css``, ``<notebook>.css``)."""
    nb = nbformat.read(source, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    dest_dir.mkdir(parents=True, exist_ok=True)
    dest = dest_dir / source.name
    nbformat.write(nb, dest)
    for css in (source.with_suffix(".css"), source.parent / "rise.css"):
        if css.is_file():
            shutil.copyfile(css, dest_dir / css.name)
    return dest


@dataclass
class JupyterLabServer:
    """A running JupyterLab: its base URL, token, root folder and log file."""

    url: str
    token: str
    root_dir: Path
    log_path: Path
    process: subprocess.Popen

    def lab_url(self, path: str = "") -> str:
        return f"{self.url}/lab/tree/{path}?token={self.token}"

    def log_tail(self, lines: int = 40) -> str:
        text = self.log_path.read_text(errors="replace") if self.log_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def lab_environment(home: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment with every Jupyter/JupyterLab user folder moved under ``home``.

    The kernel spec and the widget extension still come from the venv (``sys.prefix``), which
    stays on Jupyter's search path; the repository goes on PYTHONPATH for ``lecture_utils``.
    """
    env = dict(os.environ)
    dirs = {
        "JUPYTER_CONFIG_DIR": home / "config",
        "JUPYTER_DATA_DIR": home / "data",
        "JUPYTER_RUNTIME_DIR": home / "runtime",
        "JUPYTERLAB_SETTINGS_DIR": home / "lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": home / "lab-workspaces",
        "IPYTHONDIR": home / "ipython",
    }
    for key, path in dirs.items():
        path.mkdir(parents=True, exist_ok=True)
        env[key] = str(path)
    for plugin, values in LAB_SETTINGS.items():
        file = dirs["JUPYTERLAB_SETTINGS_DIR"] / f"{plugin}.jupyterlab-settings"
        file.parent.mkdir(parents=True, exist_ok=True)
        file.write_text(json.dumps(values))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env.update(extra or {})
    return env


@contextmanager
def jupyterlab_server(
    root_dir: Path, home: Path, env: dict[str, str] | None = None, timeout: float = 120
) -> Iterator[JupyterLabServer]:
    """Start ``jupyter lab`` on 127.0.0.1 with a random token; stop it (and its kernels) after."""
    root_dir.mkdir(parents=True, exist_ok=True)
    port, token = free_port(), secrets.token_hex(16)
    log_path = home / "jupyterlab.log"
    home.mkdir(parents=True, exist_ok=True)
    command = [
        sys.executable,
        "-m",
        "jupyter",
        "lab",
        "--no-browser",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={root_dir}",
        "--LabApp.expose_app_in_browser=True",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.extension_manager=readonly",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # containers and CI often run as root
        command.append("--allow-root")
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            cwd=root_dir,
            env=lab_environment(home, env),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group, so kernels can be cleaned up
        )
    server = JupyterLabServer(f"http://127.0.0.1:{port}", token, root_dir, log_path, process)
    try:
        _wait_for_server(server, timeout)
        yield server
    finally:
        _stop(process)


def _wait_for_server(server: JupyterLabServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    status_url = f"{server.url}/api/status?token={server.token}"
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited early:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(status_url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise TimeoutError(f"JupyterLab did not answer within {timeout:.0f} s:\n{server.log_tail()}")


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)  # the server shuts its kernels down on SIGTERM
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
    try:  # kernels the server failed to stop are in the group this harness created
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


@contextmanager
def chromium_page(timeout_ms: float = 60_000) -> Iterator[Page]:
    """A page in headless Debian Chromium (never a downloaded browser)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(timeout_ms)
            yield page
        finally:
            browser.close()


class LabNotebook:
    """One notebook open in JupyterLab, with helpers to run it and poke at its widgets."""

    def __init__(self, page: Page, server: JupyterLabServer, name: str) -> None:
        self.page, self.server, self.name = page, server, name
        self.console: list[str] = []
        page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))

    # ---- state ------------------------------------------------------------------------
    def status(self) -> dict:
        return self.page.evaluate(_STATUS_JS, self.name)

    def _wait(self, done: Callable[[dict], bool], timeout: float, what: str) -> dict:
        deadline = time.monotonic() + timeout
        status: dict = {}
        while time.monotonic() < deadline:
            status = self.status()
            if status.get("ready") and done(status):
                return status
            self.page.wait_for_timeout(250)
        raise TimeoutError(f"{self.name}: {what} not reached within {timeout:.0f} s: {status}")

    def wait_idle(self, timeout: float = 120) -> dict:
        """Wait until the kernel is idle and no cell is running."""
        return self._wait(
            lambda s: s["kernel"] == "idle" and s["running"] == 0, timeout, "idle kernel"
        )

    # ---- actions ----------------------------------------------------------------------
    def open(self, timeout: float = 120) -> None:
        """Open the notebook and wait for its kernel to be ready."""
        self.page.goto(self.server.lab_url(self.name))
        self.page.wait_for_function("() => window.jupyterapp !== undefined")
        self.wait_idle(timeout)

    def command(self, command_id: str) -> None:
        """Run a JupyterLab command (what a menu item or shortcut would do)."""
        self.page.evaluate("(id) => window.jupyterapp.commands.execute(id)", command_id)

    def run_all(self, timeout: float = 600) -> dict:
        """Run > Run All Cells; wait until every code cell ran or one raised."""
        self.command("notebook:run-all-cells")
        status = self._wait(
            lambda s: (
                s["kernel"] == "idle"
                and s["running"] == 0
                and (s["errors"] or s["executed"] == s["cells"])
            ),
            timeout,
            "all cells executed",
        )
        self.page.wait_for_timeout(500)  # let the last outputs and widget views attach
        return status

    def screenshot(self, path: Path | str, show: Locator | None = None) -> Path:
        """Save a PNG of the window, scrolled to ``show`` first (the notebook scrolls inside
        its own panel, so a full-page shot would not show more)."""
        if show is not None and show.count():
            show.first.scroll_into_view_if_needed()
        self.page.screenshot(path=str(path))
        return Path(path)

    # ---- what rendered ----------------------------------------------------------------
    def figures(self) -> Locator:
        return self.page.locator(FIGURES)

    def widgets(self) -> Locator:
        return self.page.locator(WIDGETS)

    def error_outputs(self) -> list[str]:
        return self.status()["errors"]

    def assert_rendered(self, min_figures: int = 1, min_widgets: int = 1) -> None:
        """Figures and widget views are in the DOM and visible; no error of either kind."""
        errors = self.error_outputs()
        assert not errors, "error outputs:\n" + "\n".join(errors)
        body = self.page.locator("body").inner_text()
        assert WIDGET_ERROR not in body, f"'{WIDGET_ERROR}' shown in {self.name}"
        figures = self.figures()
        assert figures.count() >= min_figures, f"{figures.count()} figures rendered"
        for i in range(figures.count()):
            img = figures.nth(i)
            img.scroll_into_view_if_needed()
            assert img.evaluate("el => el.complete && el.naturalWidth > 0"), f"figure {i} empty"
        if min_widgets:
            self.page.wait_for_selector(WIDGETS, state="visible")
            assert self.widgets().count() >= min_widgets

    # ---- widget interaction (shared with other browser tests) ----------------------------
    def cell_with(self, selector: str, index: int = 0) -> Locator:
        """The notebook cell whose output contains ``selector`` (e.g. ``.widget-dropdown``)."""
        return self.page.locator(".jp-Notebook .jp-Cell", has=self.page.locator(selector)).nth(
            index
        )

    def select(self, scope: Page | Locator, label: str, index: int = 0) -> None:
        """Pick ``label`` in the ``index``-th ipywidgets Dropdown inside ``scope``."""
        scope.locator(".widget-dropdown select").nth(index).select_option(label=label)

    def nudge_slider(self, scope: Page | Locator, steps: int, index: int = 0) -> None:
        """Move the ``index``-th ipywidgets slider in ``scope`` by ``steps`` (keyboard arrows)."""
        handle = scope.locator(".widget-slider .noUi-handle").nth(index)
        handle.scroll_into_view_if_needed()
        handle.focus()
        key = "ArrowRight" if steps > 0 else "ArrowLeft"
        for _ in range(abs(steps)):
            handle.press(key)

    def slider_value(self, scope: Page | Locator, index: int = 0) -> str:
        """The readout next to the ``index``-th slider."""
        return scope.locator(".widget-slider .widget-readout").nth(index).inner_text().strip()

    def click_button(self, scope: Page | Locator, description: str) -> None:
        """Click the ipywidgets Button labelled ``description``."""
        scope.locator("button.widget-button", has_text=description).first.click()

    def wait_for_change(
        self,
        target: Locator,
        action: Callable[[], None],
        timeout: float = 60,
        settle_ms: int = 600,
    ) -> str:
        """Do ``action`` and wait until ``target``'s HTML changes, the kernel is idle and the
        HTML is stable for ``settle_ms``. Returns the new HTML; raises TimeoutError if the
        output never changes."""
        target.scroll_into_view_if_needed()
        before = target.inner_html()
        action()
        deadline = time.monotonic() + timeout
        current = before
        while time.monotonic() < deadline:
            current = target.inner_html()
            if current != before:
                break
            self.page.wait_for_timeout(150)
        else:
            raise TimeoutError(f"output did not change within {timeout:.0f} s")
        while time.monotonic() < deadline:
            self.wait_idle(max(1.0, deadline - time.monotonic()))
            self.page.wait_for_timeout(settle_ms)
            latest = target.inner_html()
            if latest == current:
                return latest
            current = latest
        raise TimeoutError(f"output did not settle within {timeout:.0f} s")


# ---- slides: RISE in JupyterLab, and static reveal.js decks opened offline -------------------
RISE_DECK_JS = """() => {
  const top = Array.from(document.querySelectorAll('.reveal .slides > section'));
  const leaves = Array.from(document.querySelectorAll('.reveal .slides section'))
      .filter(s => !s.querySelector('section'));
  return {slides: top.length, leaves: leaves.length};
}"""
PRESENT = ".reveal .slides section.present:not(:has(section.present))"


@contextmanager
def notebook_run_in_lab(
    staged: Path, home: Path, env: dict[str, str] | None = None
) -> Iterator[tuple[LabNotebook, dict]]:
    """JupyterLab serving ``staged``'s folder (user folders under ``home``, extra ``env``) and a
    Chromium page: the notebook is opened and run top to bottom. Yields ``(nb, status)``, the
    :class:`LabNotebook` (``nb.page``, ``nb.server``) and :meth:`LabNotebook.run_all`'s status;
    the browser and the server are stopped afterwards."""
    with (
        jupyterlab_server(root_dir=staged.parent, home=home, env=env) as server,
        chromium_page() as page,
    ):
        nb = LabNotebook(page, server, staged.name)
        nb.open()
        yield nb, nb.run_all()


def slide_positions(nb: dict) -> list[tuple[int, int] | None]:
    """Reveal ``(h, v)`` index of every cell from its slide metadata (None for skipped cells)."""
    h, v, positions = -1, 0, []
    for cell in nb["cells"]:
        kind = cell.get("metadata", {}).get("slideshow", {}).get("slide_type", "-")
        if kind == "slide" or h < 0:
            h, v = h + 1, 0
        elif kind == "subslide":
            v += 1
        positions.append(None if kind == "skip" else (h, v))
    return positions


class RiseDeck:
    """A notebook presented by RISE (``/rise/<path>``, what View > Open as a Reveal Slideshow
    opens) in its own 1280x720 page of the same browser."""

    def __init__(self, lab_page: Page, server: JupyterLabServer, name: str) -> None:
        self.page = lab_page.context.browser.new_page(viewport={"width": 1280, "height": 720})
        self.server, self.name = server, name
        self.console: list[str] = []
        self.page.on("console", lambda msg: self.console.append(f"{msg.type}: {msg.text}"))
        self.page.on("pageerror", lambda exc: self.console.append(f"pageerror: {exc}"))
        self.position = (0, 0)

    def open(self, timeout_ms: float = 120_000) -> dict:
        """Load the slideshow; return ``{"slides": top-level sections, "leaves": all slides}``."""
        self.page.goto(f"{self.server.url}/rise/{self.name}?token={self.server.token}")
        self.page.wait_for_selector(PRESENT, timeout=timeout_ms)
        self.page.wait_for_timeout(1500)  # outputs and maths settle
        return self.page.evaluate(RISE_DECK_JS)

    def _control(self, direction: str) -> None:
        """Click reveal's on-screen arrow (in a notebook the arrow keys move between cells)."""
        self.page.locator(f".reveal .controls .navigate-{direction}").click()
        self.page.wait_for_timeout(200)

    def go_to(self, h: int, v: int) -> Locator:
        """Navigate with reveal's arrows, as a presenter would; return the slide now shown."""
        h0, v0 = self.position
        if h != h0:  # a horizontal move lands on the top of the next stack
            for _ in range(abs(h - h0)):
                self._control("right" if h > h0 else "left")
            v0 = 0
        for _ in range(abs(v - v0)):
            self._control("down" if v > v0 else "up")
        self.page.wait_for_timeout(1000)
        self.position = (h, v)
        return self.page.locator(PRESENT).first


@contextmanager
def offline_page(page: Page) -> Iterator[list[str]]:
    """Abort every request that is not ``file:``, ``data:`` or ``about:``; yields the list of
    URLs that were attempted and blocked."""
    blocked: list[str] = []

    def route(request_route) -> None:
        url = request_route.request.url
        if url.startswith(("file:", "data:", "about:", "blob:")):
            request_route.continue_()
        else:
            blocked.append(url)
            request_route.abort()

    page.route("**/*", route)
    try:
        yield blocked
    finally:
        page.unroute("**/*")


# Measures every slide and sub-slide of the open reveal.js deck as the viewer sees it: the
# slide's content box (scrollWidth/scrollHeight, in the deck's 1280x720 coordinates) against
# the configured size, its on-screen box (after reveal's scaling) against the window, and any
# element inside whose content is clipped or scrolls (a truncated ``pre``, a scrolled output).
DECK_FIT_JS = """async () => {
  const cfg = Reveal.getConfig(), out = [];
  const settle = () => new Promise(done => {
    if (window.MathJax && MathJax.Hub) { MathJax.Hub.Queue(() => done()); } else { done(); }
  });
  const frame = () => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)));
  const stacks = Reveal.getHorizontalSlides();
  for (let h = 0; h < stacks.length; h++) {
    const subs = stacks[h].querySelectorAll(':scope > section');
    const count = subs.length || 1;
    for (let v = 0; v < count; v++) {
      Reveal.slide(h, v);
      await settle();
      const s = Reveal.getCurrentSlide();
      const images = Array.from(s.querySelectorAll('img'));
      await Promise.all(images.map(img => img.decode().catch(() => 0)));
      await frame();
      await settle();
      await frame();
      const scale = Reveal.getScale(), r = s.getBoundingClientRect();
      const clipped = [];
      for (const el of s.querySelectorAll('*')) {
        const st = getComputedStyle(el);
        // MathJax's copy for screen readers is clipped to 1 px on purpose
        if (el.clientWidth <= 2 || el.closest('.MJX_Assistive_MathML')) continue;
        const wide = el.scrollWidth > el.clientWidth + 1 && st.overflowX !== 'visible';
        const tall = el.scrollHeight > el.clientHeight + 1 && st.overflowY !== 'visible';
        if (wide || tall) clipped.push(
          `${el.tagName.toLowerCase()}.${el.className} ${el.scrollWidth}x${el.scrollHeight}` +
          ` in ${el.clientWidth}x${el.clientHeight}`);
      }
      out.push({
        h, v, width: s.scrollWidth, height: s.scrollHeight,
        maxWidth: cfg.width, maxHeight: cfg.height,
        right: r.left + s.scrollWidth * scale, bottom: r.top + s.scrollHeight * scale,
        innerWidth: window.innerWidth, innerHeight: window.innerHeight,
        clipped, fitScale: Number(s.dataset.fitScale || 1),
        text: s.innerText.replace(/\\s+/g, ' ').trim().slice(0, 60),
      });
    }
  }
  return out;
}"""


def slide_fit(page: Page) -> list[dict]:
    """Size of every slide of the reveal.js deck open in ``page`` (see ``DECK_FIT_JS``)."""
    return page.evaluate(DECK_FIT_JS)


def misfits(slides: list[dict]) -> list[str]:
    """The slides of :func:`slide_fit` that do not fit the deck's size or the window."""
    bad = []
    for s in slides:
        why = []
        if s["height"] > s["maxHeight"] or s["bottom"] > s["innerHeight"] + 1:
            why.append(f"{s['height']} px tall > {s['maxHeight']}")
        if s["width"] > s["maxWidth"] or s["right"] > s["innerWidth"] + 1:
            why.append(f"{s['width']} px wide > {s['maxWidth']}")
        why += [f"clipped {c}" for c in s["clipped"][:2]]
        if why:
            bad.append(f"slide {s['h']}.{s['v']} ({s['text'][:40]!r}): {'; '.join(why)}")
    return bad
