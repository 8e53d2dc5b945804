"""The app in a real browser (#20): ``hf-skeleton app`` serves the page on a free port, headless Chromium
(Debian's chromium + chromium-driver, driven by selenium) uploads a real N-UCLA clip, presses Analyse and
reads what the page shows: the top-5 actions and scores, the description, the animation GIF and the
DrAction frames, compared with the embedded model asked directly. ``python app.py`` (the Space entry)
serves the same page.

Needs the ``app`` extra and ``apt-get install chromium chromium-driver``: without them these tests fail
(CI installs both); deselect them with ``-m 'not browser'``. ``HF_SKELETON_UPDATE_SCREENSHOT=1`` writes
the page's screenshot to docs/app.png (the README shows it); otherwise it goes to the test's tmp folder.
"""

from __future__ import annotations

import io
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.timeout(480)]

REPO = Path(__file__).resolve().parents[2]
CLIP = "a01_s01_e00_v01.json"  # N-UCLA "pick up with one hand"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1400,1150")


def _browser_paths() -> tuple[str, str]:
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        pytest.fail("the app's browser test needs Debian's chromium and chromium-driver (apt-get install -y "
                    f"chromium chromium-driver; found chromium={chromium}, chromedriver={driver}); "
                    "deselect it with -m 'not browser'")
    return chromium, driver


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """The server's environment: its temporary files (outputs, gradio's cache) under ``tmp_path``, since a
    terminated server leaves them behind."""
    (tmp_path / "tmp").mkdir(exist_ok=True)
    return {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "TMPDIR": str(tmp_path / "tmp"), "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
            "PYTHONUNBUFFERED": "1", **extra}


def _serve(cmd: list[str], env: dict[str, str], log: Path, url: str, timeout: float = 90):
    """Start ``cmd`` and wait until ``url`` answers; a server that exits or never answers fails the test."""
    proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the app exited with status {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return proc
        except OSError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the app did not answer on {url} within {timeout:.0f} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.3)


def _stop(proc) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@pytest.fixture
def served(tmp_path):
    """``hf-skeleton app --port PORT`` in a subprocess; yields its URL."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    cmd = [sys.executable, "-c", "import sys; from hf_skeleton.cli import main; sys.exit(main(sys.argv[1:]))",
           "app", "--port", str(port)]
    proc = _serve(cmd, _env(tmp_path), tmp_path / "app.log", url)
    yield url
    _stop(proc)


@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    chromium, driver_path = _browser_paths()
    options = Options()
    options.binary_location = chromium
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    yield driver
    driver.quit()


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:
        return response.read()


def test_upload_a_real_clip_and_read_the_page(served, browser, nucla_dir, tmp_path):
    from PIL import Image
    from selenium.common.exceptions import ElementClickInterceptedException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    from transformers import pipeline

    import hf_skeleton as hs
    from hf_skeleton.app import CONTINUATION_FRAMES, HISTORY_FRAMES, generation_model_folder
    from hf_skeleton.data import action_labels
    from hf_skeleton.embedded import default_model_for

    start = time.monotonic()
    browser.get(served)
    wait = WebDriverWait(browser, 60)
    upload = wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#upload input[type=file]"))
    upload.send_keys(str(nucla_dir / CLIP))
    wait.until(lambda d: Path(CLIP).stem in d.find_element(By.ID, "upload").text)  # uploaded (name, size)

    def click(d):  # the layout may still be settling (another row over the button for a moment)
        try:
            d.find_element(By.ID, "analyse").click()
            return True
        except ElementClickInterceptedException:
            return False

    wait.until(click)

    def outputs(d):
        labels = [e.text for e in d.find_elements(By.CSS_SELECTOR, "#actions dt")]
        text = d.find_element(By.CSS_SELECTOR, "#description textarea").get_property("value")
        images = {name: d.find_elements(By.CSS_SELECTOR, f"#{name} img")
                  for name in ("animation", "draction")}
        if len(labels) == 5 and text and all(images.values()):
            return labels, text, {name: found[0].get_attribute("src") for name, found in images.items()}
        return False

    labels, text, images = wait.until(outputs)
    shown = time.monotonic() - start
    scores = [e.text for e in browser.find_elements(By.CSS_SELECTOR, "#actions dd")]
    summary = browser.find_element(By.ID, "summary").text
    note = browser.find_element(By.ID, "continuation-note").text

    # the embedded model asked directly about the same file
    pipe = pipeline("skeleton-understanding", model=default_model_for("skeleton-understanding"))
    seq = hs.load_skeleton(nucla_dir / CLIP)
    top = pipe(seq, candidate_labels=list(action_labels("nucla").values()))[:5]
    assert labels == [row["label"] for row in top]
    assert scores == [f"{round(row['score'] * 100)}%" for row in top]
    assert text == pipe(seq, prompt="Describe the motion.", max_new_tokens=24)["generated_text"]
    assert CLIP in summary and "pick up with one hand" in summary and "44 frames" in summary
    with Image.open(io.BytesIO(_fetch(images["animation"]))) as gif:  # the stick figure, animated
        assert gif.format == "GIF" and gif.n_frames > 10 and images["animation"].endswith("clip_original.gif")
    with Image.open(io.BytesIO(_fetch(images["draction"]))) as grid:
        assert grid.format == "PNG" and grid.width > 300
        assert images["draction"].endswith("draction_frames.png")
    assert shown < 60, f"the page took {shown:.0f} s from load to results"

    # the continuation comes second (seconds of decoding on a CPU), without holding back the rest
    folder = generation_model_folder()
    if folder is None:
        note = WebDriverWait(browser, 60).until(
            lambda d: d.find_element(By.ID, "continuation-note").text.startswith("No continuation")
            and d.find_element(By.ID, "continuation-note").text)
        assert "--generation-model" in note
        # no empty image box: only the note
        assert not [e for e in browser.find_elements(By.ID, "continuation") if e.is_displayed()]
    else:
        # pending (under Gradio's "processing | 0.7s" line), or already there
        assert "Predicting the continuation" in note or "Predicted by" in note

        def predicted(d):
            images = [e.get_attribute("src") for e in d.find_elements(By.CSS_SELECTOR, "#continuation img")]
            text = d.find_element(By.ID, "continuation-note").text
            return images and "Predicted by" in text and (images[0], text)

        continuation, note = WebDriverWait(browser, 240).until(predicted)
        assert note.startswith(f"Predicted by {Path(folder).name}")
        assert f"last {HISTORY_FRAMES} observed frames, then {CONTINUATION_FRAMES} predicted" in note
        with Image.open(io.BytesIO(_fetch(continuation))) as gif:  # the clip's last 32 frames, 8 predicted
            assert gif.format == "GIF" and gif.n_frames == HISTORY_FRAMES + CONTINUATION_FRAMES
            assert continuation.endswith("continuation.gif")

    screenshot = tmp_path / "app.png"  # the whole page, the continuation (or its note) included
    browser.save_screenshot(str(screenshot))
    if os.environ.get("HF_SKELETON_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, REPO / "docs" / "app.png")
    with Image.open(screenshot) as shot:
        assert shot.size[0] >= 1000 and shot.size[1] >= 700


def test_app_py_is_the_space_entry(tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/"
    proc = _serve([sys.executable, str(REPO / "app.py")], _env(tmp_path, GRADIO_SERVER_PORT=str(port)),
                  tmp_path / "space.log", url)
    try:
        config = _fetch(url + "config").decode()
    finally:
        _stop(proc)
    for shown in ("Analyse", "Top-5 actions (N-UCLA)", "Description (generated)", "DrAction frames"):
        assert shown in config
