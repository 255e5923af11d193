"""The web page of ``python -m host --serve`` in a real browser: Debian's Chromium, headless,
driven by Selenium (the ``test`` extra) through the system's ``chromedriver``, so that nothing is
downloaded at run time. The tests draw digits with it; ``python -m host.browser`` takes the
screenshot in ``docs/``.

    python -m host.browser --screenshot docs/web.png            # the simulated board answers
    python -m host.browser --screenshot /tmp/page.png --reference

Strokes are drawn as a user draws them (pointer down, moves, up), at points given as fractions
of the canvas, so that the same strokes draw the same digit on any network's canvas.
"""

import argparse
import math
import re
import shutil
import sys
import time

__all__ = ["BrowserError", "ONE", "ZERO", "SEVEN", "chromium", "Page", "main"]

#: A "1": one stroke down the middle, slightly slanted as handwriting is.
ONE = [[(0.54, 0.14), (0.52, 0.35), (0.50, 0.55), (0.48, 0.86)]]

#: A "0": one closed stroke round an upright ellipse.
ZERO = [[(0.5 + 0.24 * math.sin(math.tau * k / 24), 0.5 - 0.34 * math.cos(math.tau * k / 24))
         for k in range(25)]]

#: A "7": the bar, then down to the left, in one stroke.
SEVEN = [[(0.24, 0.2), (0.5, 0.2), (0.76, 0.2), (0.62, 0.5), (0.48, 0.86)]]

#: Seconds to wait for the page's answer (the server's own bounds are shorter).
ANSWER_S = 120.0


class BrowserError(RuntimeError):
    """Chromium, chromedriver or Selenium is missing, or the page did not answer."""


def chromium(*, width=1400, height=1000):
    """A headless Chromium (the system's ``chromium`` and ``chromedriver``) under Selenium."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        raise BrowserError("Selenium is not installed: pip install -e '.[test]'") from None
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if binary is None or driver is None:
        raise BrowserError("chromium and chromedriver are needed (Debian/Ubuntu: apt-get "
                           "install chromium chromium-driver)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={width},{height}", "--force-device-scale-factor=1"):
        options.add_argument(flag)
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


class Page:
    """The page at ``url`` in ``driver``, loaded and ready (its ``/api/info`` read)."""

    def __init__(self, driver, url):
        self.driver = driver
        driver.get(url)
        self._wait(lambda: driver.execute_script("return document.body.dataset.ready"), 30,
                   "the page did not load")

    def _wait(self, done, seconds, what):
        end = time.monotonic() + seconds
        while not done():
            if time.monotonic() > end:
                raise BrowserError(f"{what} in {seconds:g} s")
            time.sleep(0.05)

    def _answers(self):
        return int(self.driver.execute_script("return document.body.dataset.answers"))

    def _answered(self, before):
        """Wait for the answer after ``before`` answers, the page idle again."""
        self._wait(lambda: self._answers() > before and self.driver.execute_script(
            "return document.body.dataset.state === 'idle' && !state.pending"), ANSWER_S,
            "the page showed no answer")

    def text(self, element_id):
        """An element's text, shown or not (the codes are in a closed ``details``)."""
        return self.driver.find_element("id", element_id).get_attribute("textContent").strip()

    def draw(self, strokes):
        """Clear the canvas, draw ``strokes`` (lists of ``(x, y)`` fractions of the canvas)
        with the pointer, press Classify and wait for the answer."""
        from selenium.webdriver.common.action_chains import ActionChains
        find = self.driver.find_element
        if find("id", "auto").is_selected():   # one request for the whole drawing
            find("id", "auto").click()
        find("id", "clear").click()
        canvas = find("id", "draw")
        size = canvas.size
        for stroke in strokes:
            # Selenium's offsets are from the element's centre
            at = [(round((x - 0.5) * size["width"]), round((y - 0.5) * size["height"]))
                  for x, y in stroke]
            actions = ActionChains(self.driver, duration=20)
            actions.move_to_element_with_offset(canvas, *at[0]).click_and_hold()
            for (x0, y0), (x1, y1) in zip(at, at[1:]):
                actions.move_by_offset(x1 - x0, y1 - y0)
            actions.release().perform()
        self.submit()

    def submit(self):
        """Press Classify and wait for the answer."""
        before = self._answers()
        self.driver.find_element("id", "classify").click()
        self._answered(before)

    def run(self, script):
        """Run ``script`` in the page (its functions are global) and wait for its answer."""
        before = self._answers()
        self.driver.execute_script(script)
        self._answered(before)

    def drawing(self):
        """The drawing canvas's grey levels, ``(height, width)`` nested lists, as the page
        sends them."""
        request = self.driver.execute_script("return drawingRequest().drawing")
        w = request["width"]
        return [request["pixels"][k:k + w] for k in range(0, len(request["pixels"]), w)]

    def answer(self):
        """What the page shows: the codes sent, each panel's class and logits (``None`` where
        it shows none), the marks, the counter, the error and the layer maps' captions."""
        def ints(element_id):
            text = self.text(element_id)
            return [int(v) for v in re.findall(r"-?\d+", text)] if text else None

        def panel(name):
            cls = self.text(f"{name}-class")
            return {"class": int(cls) if cls.lstrip("-").isdigit() else None,
                    "logits": ints(f"{name}-logits")}

        return {"codes": ints("sent-codes"), "board": panel("board"),
                "reference": panel("reference"), "keras": panel("keras"),
                "reference_mark": self.text("reference-mark"),
                "keras_mark": self.text("keras-mark"),
                "counter": {k: int(self.text(k)) for k in ("requests", "mismatches",
                                                            "keras-mismatches")},
                "error": self.text("error"),
                "maps": [e.get_attribute("textContent") for e in
                         self.driver.find_elements("css selector", "#maps figcaption")]}

    def screenshot(self, path):
        """The whole page as a PNG at ``path``."""
        import base64
        # beyond the window: a headless window is no taller than its virtual screen
        size = self.driver.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
        shot = self.driver.execute_cdp_cmd("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"],
                     "scale": 1}})
        with open(path, "wb") as f:
            f.write(base64.b64decode(shot["data"]))


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m host.browser", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--screenshot", required=True, metavar="PNG",
                   help="where to write the page's picture (docs/web.png for the docs)")
    p.add_argument("--reference", action="store_true",
                   help="the integer reference answers rather than the simulated board top")
    p.add_argument("--board", default=None, help="the simulated board (default the host's)")
    args = p.parse_args(argv)
    from hw.board.defaults import BOARD
    from platforms import get_board
    from q8.weights import DEFAULT_WEIGHTS, load
    from .answers import ReferenceBackend, Session, SimulatedBackend
    from .web import serve_in_thread, url_of
    net = load(DEFAULT_WEIGHTS)
    board = get_board(args.board or BOARD)
    backend = ReferenceBackend(net) if args.reference else \
        SimulatedBackend(net, board=board, progress=print)
    session = Session(net, backend, weights=DEFAULT_WEIGHTS,
                      board=None if args.reference else board.name)
    server = serve_in_thread(session)
    driver = chromium(width=1300, height=900)
    try:
        page = Page(driver, url_of(server))
        page.draw(SEVEN)
        page.screenshot(args.screenshot)
    except BrowserError as e:
        p.exit(1, f"error: {e}\n")
    finally:
        driver.quit()
        server.shutdown()
        server.server_close()
        backend.close()
    print(f"wrote {args.screenshot}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
