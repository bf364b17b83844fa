"""``diffusionsynth serve`` end to end in a real browser (Debian's chromium, headless, via Playwright).

A real server process renders Slicer's views off-screen; the page loads a real volume, runs a
task with few steps, and the result is checked three ways: in the page (result list), in the
views (a screenshot with an image in it) and as the downloaded file (the input's grid,
marked synthetic). Screenshots are kept in the test's folder.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

from DiffusionSynthLib.volume import read_provenance, read_volume

from web_browser import (
    RECORD_PROGRESS,
    axial_picture,
    browser_page,
    chromium_path,
    differs,
    recoloured,
    recoloured_fraction,
    serve,
    shows_an_image,
    wait_for_views,
)

pytest.importorskip("trame_slicer", reason="the web extra is not installed (pip install -e '.[web]')")
pytest.importorskip("playwright", reason="playwright is not installed (pip install playwright)")
pytestmark = pytest.mark.skipif(chromium_path() is None, reason="no chromium on PATH (apt-get install chromium)")

RUN_TIMEOUT_MS = 180_000


def open_settings_and_set_steps(page, steps: int) -> None:
    page.locator("#ds-settings").click()
    page.locator("#ds-steps").fill(str(steps))


def run_and_wait(page, result_text: str):
    """Press Apply, then wait for the result row; returns the row."""
    page.evaluate(RECORD_PROGRESS)
    page.locator("#ds-apply").click()
    row = page.locator(".ds-result", has_text=result_text).first
    row.wait_for(timeout=RUN_TIMEOUT_MS)
    assert page.locator("#ds-error").count() == 0
    return row


def download(page, row, folder):
    with page.expect_download() as info:
        row.locator(".ds-download").click()
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def assert_same_grid(path, reference_path) -> None:
    result, reference = read_volume(path), read_volume(reference_path)
    assert result.shape == reference.shape
    assert np.allclose(result.ijk_to_ras, reference.ijk_to_ras, atol=1e-3)


def test_pseudo_ct_from_an_uploaded_mr(small_mri, tmp_path):
    with serve(tmp_path / "server.log") as served, browser_page() as page:
        page.goto(served.url)  # the printed address with its token; the page's later requests and its websocket use the cookie
        page.locator("input[type=file]").first.set_input_files(str(small_mri))  # the 'Open Files' loader
        page.locator("#ds-apply").wait_for()  # the synthesis panel opens once a volume is loaded
        mr_picture = wait_for_views(page, shows_an_image, path=tmp_path / "1-loaded.png")

        page.locator("#ds-task-mri-to-ct").click()
        open_settings_and_set_steps(page, 2)
        page.locator("#ds-samples").fill("1")  # one diffusion sample, so the two steps run (the default is the deterministic estimate)
        row = run_and_wait(page, "pseudo-CT")
        ct_picture = wait_for_views(page, lambda p: shows_an_image(p) and differs(p, mr_picture, 5.0), path=tmp_path / "2-pseudo-ct.png")
        page.screenshot(path=tmp_path / "3-page.png")
        info = page.locator("#ds-info").inner_text()  # this MR's field of view cuts the vertex: the quality check says so
        progress = page.evaluate("window.__progress")
        saved = download(page, row, tmp_path)

    assert shows_an_image(ct_picture)
    assert "Quality check warned: head_cut_share" in info
    assert any(re.search(r"step \d+ of \d+", text) for text in progress), progress  # the progress bar was fed
    assert_same_grid(saved, small_mri)
    record = read_provenance(saved)
    assert record["synthetic"] is True and record["task"] == "mri-to-ct" and record["steps"] == 2
    hu = read_volume(saved).array
    assert -1024 <= hu.min() and hu.max() <= 3100 and (hu == -1000).mean() > 0.2  # HU, air around the head


@pytest.fixture
def brain_case(brain_cases, tmp_path):
    """One real BraTS case at 3 mm: its four sequences only (the mask is drawn in the browser)."""
    folder = tmp_path / "case"
    folder.mkdir()
    for name in ("t1n", "t1c", "t2w", "t2f"):
        (folder / f"{name}.nii.gz").symlink_to(brain_cases / "BraTS-GLI-00001-000" / f"{name}.nii.gz")
    return folder


def paint_a_lesion(page) -> None:
    """Segment editor: add a segment, take the brush, and paint a stroke across the middle of the axial view."""
    page.locator("#ds-open-segment-editor").click()
    page.get_by_role("button", name="Add segment").click()
    page.locator(".v-card-item button:has(i.mdi-brush)").click()
    page.locator(".v-card-item button.v-btn--active:has(i.mdi-brush)").wait_for()  # the server took the brush
    box = page.locator(".layout-grid-container img.image-display-area").first.bounding_box()
    x, y = box["x"] + box["width"] * 0.40, box["y"] + box["height"] * 0.45
    page.mouse.move(x, y)
    page.mouse.down()
    for step in range(20):
        page.mouse.move(x + 3 * step, y + (8 if step % 2 else 0))
        page.wait_for_timeout(60)
    page.mouse.up()
    page.mouse.move(2, box["y"] + 10)  # off the views: the brush outline goes, the painted segment stays


def test_add_a_lesion_painted_in_the_browser(brain_case, tiny_inpaint_model, tmp_path):
    models = ("--models-dir", str(tiny_inpaint_model.parent))  # the page offers it by name; a client never gives a path
    with serve(tmp_path / "server.log", data=brain_case, extra=models) as served, browser_page() as page:
        page.goto(served.url)
        page.locator("#ds-apply").wait_for()
        wait_for_views(page, shows_an_image, path=tmp_path / "1-loaded.png")  # --data: shown at start
        loaded = axial_picture(page, colour=True)
        paint_a_lesion(page)
        painted = wait_for_views(page, lambda p: recoloured_fraction(p, loaded) > 0.004, path=tmp_path / "2-painted.png", colour=True)

        page.locator("#ds-open-synthesis").click()
        page.locator("#ds-task-inpaint").click()
        page.locator("#ds-mode-add").click()
        page.locator("#ds-settings").click()
        page.locator("#ds-model").fill(tiny_inpaint_model.name)
        page.locator("#ds-steps").fill("2")
        page.locator("#ds-samples").fill("1")  # one diffusion sample: the tiny package's deterministic estimate barely changes a small lesion
        run_and_wait(page, "inpaint")
        row = page.locator(".ds-result", has_text=re.compile(r"inpaint t")).first  # an image; the sub-regions have their own row
        labels_row = page.locator(".ds-result", has_text="sub-regions").first
        # judged where the stroke is: the rest of the slice stays as it was, so a whole-picture mean depends on the stroke's size
        stroke = recoloured(painted, loaded)
        inside = lambda p: shows_an_image(p) and differs(p, painted, 4.0, where=stroke)  # noqa: E731
        wait_for_views(page, inside, path=tmp_path / "3-inpainted.png", colour=True)
        page.screenshot(path=tmp_path / "4-page.png")
        saved = download(page, row, tmp_path)
        labels_saved = download(page, labels_row, tmp_path)

    assert_same_grid(saved, brain_case / "t1n.nii.gz")
    record = read_provenance(saved)
    assert record["synthetic"] is True and record["task"] == "inpaint"
    sequence = re.findall(r"t1n|t1c|t2w|t2f", saved.name)[-1]  # <volume>_inpaint_<sequence written>
    changed = read_volume(saved).array != read_volume(brain_case / f"{sequence}.nii.gz").array
    assert 0 < changed.mean() < 0.05  # the painted lesion, and nothing far from it
    # the layout the add mode drew: on the same grid, marked synthetic, its labels where the image changed
    assert_same_grid(labels_saved, brain_case / "t1n.nii.gz")
    assert read_provenance(labels_saved)["synthetic"] is True
    labels = read_volume(labels_saved).array
    assert labels.any() and changed[labels > 0].mean() > 0.5
