"""The Fisher-Kolmogorov solver on small synthetic volumes: barriers, tissue, millimetres, stability."""

from __future__ import annotations

import numpy as np
import pytest

from DiffusionSynthLib.growth.fisher_kolmogorov import simulate
from DiffusionSynthLib.growth.parameters import GrowthParameters, draw_parameters


def ball(shape, centre_mm, radius_mm, spacing) -> np.ndarray:
    grids = np.meshgrid(*[np.arange(n) * s for n, s in zip(shape, spacing)], indexing="ij")
    return sum((g - c) ** 2 for g, c in zip(grids, centre_mm)) <= radius_mm**2


def reach_mm(u: np.ndarray, axis: int, spacing: float, level: float = 0.5) -> float:
    """Length in mm along ``axis`` through the centre where ``u >= level``."""
    index = [n // 2 for n in u.shape]
    index[axis] = slice(None)
    return float((u[tuple(index)] >= level).sum() * spacing)


def test_no_flux_through_a_barrier_and_mass_conserved_without_proliferation():
    shape = (40, 20, 8)
    d = np.full(shape, 0.5, np.float32)
    d[20] = 0.0  # a wall, as the skull or a ventricle wall
    u0 = np.zeros(shape, np.float32)
    u0[5:10, 8:12, 2:6] = 1.0
    out = simulate(u0, d, (1.0, 1.0, 2.0), rho=0.0, days=[50, 400])
    assert np.all(out[400][20:] == 0.0)  # not a single cell crossed
    assert out[400][:20].min() > 0.01  # while the whole left side filled up
    for u in out.values():  # diffusion alone: no-flux walls and edges keep every cell
        assert u.sum() == pytest.approx(u0.sum(), rel=1e-4)
    with_growth = simulate(u0, d, (1.0, 1.0, 2.0), rho=0.05, days=[400])[400]
    assert np.all(with_growth[20:] == 0.0) and with_growth[:20].mean() > 0.9


def test_growth_is_faster_along_white_than_grey_matter():
    shape = (61, 61, 5)
    d = np.full(shape, 0.02, np.float32)  # grey
    d[:, :30] = 0.2  # white matter on the low-j side, 10x faster
    u0 = ball(shape, (30, 30, 2), 4.0, (1, 1, 1)).astype(np.float32)
    u = simulate(u0, d, (1.0, 1.0, 1.0), rho=0.02, days=[300])[300]
    row = u[30, :, 2] >= 0.5
    into_white = 30 - int(np.argmax(row))
    into_grey = int(len(row) - np.argmax(row[::-1])) - 1 - 30
    assert into_white > 1.8 * into_grey > 0  # asymptotically sqrt(10) = 3.2 times faster


def _grown_ball(spacing) -> list[float]:
    """Diameter in mm along each axis of a ball of 8 mm radius after 200 days, sampled at ``spacing``."""
    shape = tuple(round(80.0 / s) for s in spacing)
    centre = [n // 2 * s for n, s in zip(shape, spacing)]
    u0 = ball(shape, centre, 8.0, spacing).astype(np.float32)
    u = simulate(u0, np.full(shape, 0.1, np.float32), spacing, rho=0.03, days=[200])[200]
    return [reach_mm(u, axis, s) for axis, s in enumerate(spacing)]


@pytest.fixture(scope="module")
def isotropic_reference() -> float:
    return float(np.mean(_grown_ball((1.0, 1.0, 1.0))))


@pytest.mark.parametrize("spacing", [(1.0, 1.0, 3.0), (0.8, 1.6, 4.0), (2.0, 0.5, 1.0)])
def test_growth_is_the_same_in_millimetres_on_anisotropic_voxels(spacing, isotropic_reference):
    """The same physical ball sampled on anisotropic voxels grows to the same size in mm, in every direction."""
    assert isotropic_reference > 16.0 + 10.0  # it did grow, from 16 mm across
    for reach, s in zip(_grown_ball(spacing), spacing):
        assert abs(reach - isotropic_reference) <= s + 1.0  # within a voxel (plus the reference's own)


def test_front_speed_approaches_two_sqrt_d_rho():
    u0 = np.zeros((600, 3, 3), np.float32)
    u0[:20] = 1.0
    out = simulate(u0, np.full(u0.shape, 0.5, np.float32), (0.5, 1.0, 1.0), rho=0.05, days=[150, 300])
    speed = ((out[300][:, 1, 1] >= 0.5).sum() - (out[150][:, 1, 1] >= 0.5).sum()) * 0.5 / 150
    assert 0.8 * 2 * np.sqrt(0.5 * 0.05) < speed <= 1.02 * 2 * np.sqrt(0.5 * 0.05)


def test_stable_for_fast_diffusion_and_exact_days():
    rng = np.random.default_rng(0)
    u0 = (rng.random((20, 20, 6)) > 0.9).astype(np.float32)
    d = rng.random(u0.shape).astype(np.float32) * 5.0  # up to 5 mm^2/day on 0.5 mm voxels: many small steps
    out = simulate(u0, d, (0.5, 0.5, 2.0), rho=0.1, days=[3, 1, 2])
    assert sorted(out) == [1, 2, 3]
    for u in out.values():
        assert u.dtype == np.float32 and np.isfinite(u).all() and u.min() >= 0 and u.max() <= 1
    assert out[1].sum() < out[2].sum() < out[3].sum()


def test_parameter_draws_are_seeded_and_in_range():
    centre = GrowthParameters(0.05, 0.005)
    spread = {"log10_diffusivity_sd": 0.4, "proliferation_sd": 0.01, "diffusivity_range": [0.005, 0.5]}
    a = draw_parameters(centre, spread, 20, seed=3)
    assert a == draw_parameters(centre, spread, 20, seed=3) and a != draw_parameters(centre, spread, 20, seed=4)
    assert all(0.005 <= p.diffusivity_white <= 0.5 and p.proliferation >= 0 for p in a)
    assert len({p.diffusivity_white for p in a}) > 10
