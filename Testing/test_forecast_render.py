"""Forecast images: the tumour grown by deformation (its own rim, pushed-aside brain), inpainting only for what that
cannot show, no drawn rims or specks; day 0 unchanged."""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from DiffusionSynthLib.tasks.forecast_render import day_plan, render_day
from DiffusionSynthLib.tasks.forecast_warp import MASS_EFFECT_MM, growth_warp
from DiffusionSynthLib.texture import HIGH_PASS_SIGMA, high_pass
from DiffusionSynthLib.volume import read_volume

SPACING = (1.0, 1.0, 2.0)


def ball(shape: tuple[int, ...], centre: tuple[float, ...], radius_mm: float, spacing=SPACING) -> np.ndarray:
    grid = np.indices(shape, dtype=np.float32)
    return sum(((grid[i] - centre[i]) * spacing[i]) ** 2 for i in range(3)) <= radius_mm**2


def dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2.0 * float((a & b).sum()) / float(a.sum() + b.sum())


def test_growth_stretches_the_tumour_onto_the_grown_mask_and_pushes_the_brain_aside():
    shape, centre = (96, 96, 40), (48, 48, 20)
    baseline, grown = ball(shape, centre, 10.0), ball(shape, centre, 16.0)
    warp = growth_warp(baseline, grown, SPACING)
    assert warp is not None
    stretched = warp.apply(baseline.astype(np.float32)) > 0.5
    assert dice(stretched, grown) > 0.93
    # a shell of tissue 20 mm from the centre shows, after the growth, tissue that was nearer the centre (mass effect)
    radius = np.sqrt(sum(((np.indices(shape)[i] - centre[i]) * SPACING[i]) ** 2 for i in range(3))).astype(np.float32)
    shown = warp.apply(radius)
    shell = np.abs(radius - 20.0) < 0.5
    assert 10.0 < float(np.median(shown[shell])) < 19.0
    # nothing moves beyond the mass effect's reach; inside it the deformation never folds (radius shown grows outward)
    far = radius > 16.0 + MASS_EFFECT_MM + 5.0
    assert not warp.zone(shape)[far].any()
    along = shown[centre[0] :, centre[1], centre[2]]
    assert (np.diff(along) >= -1e-3).all()


def test_a_day_plan_inpaints_only_what_the_stretch_cannot_show_and_no_slivers():
    shape, centre = (96, 96, 40), (48, 48, 20)
    baseline = ball(shape, centre, 10.0)
    assert day_plan(baseline, baseline, SPACING).warp is None  # nothing changed
    plan = day_plan(baseline, ball(shape, centre, 16.0), SPACING)
    assert plan.warp is not None and not plan.remove.any() and plan.add.sum() < 0.02 * ball(shape, centre, 16.0).sum()
    satellite = ball(shape, (80, 48, 20), 5.0)  # 32 mm from the centre, apart from the grown tumour
    plan = day_plan(baseline, ball(shape, centre, 16.0) | satellite, SPACING)
    assert dice(plan.add, satellite) > 0.8  # a new focus: the lesion model adds it
    shrunk = day_plan(baseline, ball(shape, centre, 7.0), SPACING)
    assert shrunk.warp is None and np.array_equal(shrunk.remove, baseline & ~ball(shape, centre, 7.0))  # all of what receded
    assert np.array_equal(plan.add, ndimage.binary_opening(plan.add, np.ones((3, 3, 1), bool)))  # no added sliver or speck


def test_a_rendered_day_grows_the_real_tumour_without_drawn_edges_and_day_zero_is_the_input(brain_cases, tiny_inpaint_model):
    from DiffusionSynthLib.models import load_model

    case = brain_cases / "TCGA-DU-7294"
    t1c, seg = read_volume(case / "t1c.nii.gz"), read_volume(case / "tumour_seg_predicted.nii.gz")
    spacing = tuple(float(s) for s in t1c.spacing)
    brain = t1c.array > 0
    baseline = np.isin(seg.array, (1, 4))
    grown = (ndimage.distance_transform_edt(~baseline, sampling=spacing) <= 6.0) & brain
    model = load_model(tiny_inpaint_model)

    same = render_day({"t1c": t1c}, baseline, baseline, model, spacing=spacing)
    np.testing.assert_array_equal(same["t1c"].array, t1c.array)  # nothing grew: the input, bit for bit

    image = render_day({"t1c": t1c}, baseline, grown, model, spacing=spacing)["t1c"].array.astype(np.float32)
    source = t1c.array.astype(np.float32)
    healthy = brain & (ndimage.distance_transform_edt(~grown, sampling=spacing) > 20)
    median, sd = float(np.median(source[healthy])), float(source[healthy].std())
    depth_base = ndimage.distance_transform_edt(baseline, sampling=spacing)
    depth_grown = ndimage.distance_transform_edt(grown, sampling=spacing)
    real_rim = (float(source[baseline & (depth_base <= 4.0)].mean()) - median) / sd
    front = (float(image[grown & ~baseline & (depth_grown <= 4.0)].mean()) - median) / sd
    assert abs(front - real_rim) < 0.5, (front, real_rim)  # the front is the tumour's own rim, moved out
    plan = day_plan(baseline, grown, spacing)
    zone = plan.changed(t1c.shape)
    np.testing.assert_array_equal(image[~zone], source[~zone])  # beyond the deformation and the blend: the input
    hp_rendered = np.sqrt(np.mean(high_pass(image / sd, brain, HIGH_PASS_SIGMA)[zone & brain] ** 2))
    hp_real = np.sqrt(np.mean(high_pass(source / sd, brain, HIGH_PASS_SIGMA)[zone & brain] ** 2))
    assert 0.6 < hp_rendered / hp_real < 1.3, (hp_rendered, hp_real)  # no drawn line adds edges, no blur removes them
