"""Forecast images by sub-region: the enhancing rim on the advancing front, necrosis behind it, oedema ahead; day 0 unchanged."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from scipy import ndimage

from DiffusionSynthLib.models import load_model
from DiffusionSynthLib.tasks.forecast_render import OEDEMA_MM, RIM_MM, forecast_subregions, render_day
from DiffusionSynthLib.volume import read_volume

SPACING = (1.0, 1.0, 2.0)


def ball(shape: tuple[int, ...], centre: tuple[float, ...], radius_mm: float, spacing=SPACING) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float32)
    return sum(((grid[i] - centre[i]) * spacing[i]) ** 2 for i in range(3)) <= radius_mm**2


def test_sub_regions_follow_the_front():
    shape, centre = (64, 64, 32), (32, 32, 16)
    baseline, grown = ball(shape, centre, 10.0), ball(shape, centre, 16.0)
    labels = forecast_subregions(baseline, grown, SPACING)
    front = grown & ~ndimage.binary_erosion(grown)
    assert (labels[front] == 4).all()  # the rim on the advancing front
    added_deep = grown & ~baseline & (ndimage.distance_transform_edt(grown, sampling=SPACING) > RIM_MM)
    assert added_deep.any() and (labels[added_deep] == 1).all()  # grown past the rim: necrosis
    old_rim = baseline & ~ndimage.binary_erosion(baseline)
    assert (labels[old_rim] == 1).all()  # the baseline's rim, now 6 mm behind the front
    core = ndimage.distance_transform_edt(baseline, sampling=SPACING) > RIM_MM
    assert (labels[core] == 0).all()  # the old core stays as it is
    outside = ndimage.distance_transform_edt(~grown, sampling=SPACING)
    assert (labels[(outside > 0) & (outside <= OEDEMA_MM - 1) & ~ball(shape, centre, 10.0 + OEDEMA_MM)] == 2).all()
    assert not labels[outside > OEDEMA_MM].any()
    assert not forecast_subregions(baseline, baseline, SPACING).any()  # no growth: nothing to render
    assert not forecast_subregions(baseline, ball(shape, centre, 8.0), SPACING).any()  # shrinking is removal only


@pytest.fixture(scope="module")
def enhancing_package(tiny_inpaint_model, tmp_path_factory):
    """The tiny package with an enhancing sub-region in its glioma appearance (its one training tumour has none)."""
    folder = tmp_path_factory.mktemp("enhancing") / "tiny-inpaint-enhancing"
    shutil.copytree(tiny_inpaint_model, folder)
    config = json.loads((folder / "model.json").read_text())
    config["id"] = folder.name
    config["prior"]["glioma"]["contrast"]["4"] = {"t1c": 2.5, "t2f": 2.0}
    config["prior"]["glioma"]["contrast"]["1"]["t1c"] = -1.0
    (folder / "model.json").write_text(json.dumps(config))
    return load_model(folder)


def test_a_rendered_day_enhances_the_front_and_day_zero_is_the_input(brain_cases, enhancing_package):
    t1c = read_volume(brain_cases / "BraTS-GLI-00001-000" / "t1c.nii.gz")
    spacing = tuple(float(s) for s in t1c.spacing)
    brain = t1c.array > 0
    depth = ndimage.distance_transform_edt(brain, sampling=spacing)
    centre = tuple(int(c) for c in np.argwhere(depth == depth.max())[0])
    baseline = ball(t1c.shape, centre, 9.0, spacing) & brain
    grown = ball(t1c.shape, centre, 18.0, spacing) & brain

    same = render_day({"t1c": t1c}, baseline, baseline, enhancing_package, spacing=spacing)
    np.testing.assert_array_equal(same["t1c"].array, t1c.array)  # nothing grew: the input, bit for bit

    image = render_day({"t1c": t1c}, baseline, grown, enhancing_package, spacing=spacing)["t1c"].array
    labels = forecast_subregions(baseline, grown, spacing)
    healthy = brain & (ndimage.distance_transform_edt(~grown, sampling=spacing) > 20)
    median, sd = float(np.median(t1c.array[healthy])), float(t1c.array[healthy].std())
    rim = (float(image[labels == 4].mean()) - median) / sd
    necrosis = (float(image[labels == 1].mean()) - median) / sd
    assert rim > 0.8 and rim - necrosis > 0.8, (rim, necrosis)
    rendered = (labels > 0) | (baseline & ~grown)
    far = ndimage.distance_transform_edt(~rendered) > 3
    np.testing.assert_array_equal(image[far], t1c.array[far])
