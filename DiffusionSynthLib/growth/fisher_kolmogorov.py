"""Fisher-Kolmogorov reaction-diffusion, du/dt = div(D grad u) + rho u (1 - u), in millimetres and days.

``u`` is the tumour cell density relative to the tissue's capacity. ``D`` (mm^2/day) is a field:
higher in white matter than in grey, zero in CSF and outside the brain. Fluxes go through voxel
faces with the harmonic mean of the two voxels' diffusivities, so a face next to a zero-D voxel
carries nothing: no cell crosses the skull or the ventricle walls (no-flux boundaries), and the
array's edges are no-flux too. Each axis uses its own spacing, so anisotropic voxels (thick
slices) are handled in mm. Time stepping: explicit finite volumes for diffusion, the step a whole
fraction of a day within 90% of the stability limit, then the logistic reaction solved exactly
over the step (operator splitting); float32 throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

SAFETY = 0.9  # fraction of the explicit stability limit used as time step


def face_conductances(diffusivity: np.ndarray, spacing: Sequence[float]) -> list[np.ndarray]:
    """Per axis, D at the faces between neighbours (harmonic mean) divided by spacing^2 (1/day)."""
    d = diffusivity.astype(np.float32)
    result = []
    for axis, h in enumerate(spacing):
        lo = np.take(d, np.arange(d.shape[axis] - 1), axis=axis)
        hi = np.take(d, np.arange(1, d.shape[axis]), axis=axis)
        total = lo + hi
        harmonic = np.divide(2.0 * lo * hi, total, out=np.zeros_like(total), where=total > 0)
        result.append((harmonic / np.float32(h * h)).astype(np.float32))
    return result


def stable_time_step(conductances: list[np.ndarray], shape: tuple[int, ...]) -> float:
    """The largest explicit step (days) that keeps every update a convex combination (no overshoot)."""
    outflow = np.zeros(shape, np.float32)
    for axis, c in enumerate(conductances):
        head = [slice(None)] * len(shape)
        tail = [slice(None)] * len(shape)
        head[axis], tail[axis] = slice(0, -1), slice(1, None)
        outflow[tuple(head)] += c
        outflow[tuple(tail)] += c
    peak = float(outflow.max())
    return SAFETY / peak if peak > 0 else np.inf


def logistic_step(u: np.ndarray, rho: float, dt: float) -> None:
    """In place: the exact solution of du/dt = rho u (1 - u) after ``dt`` days."""
    if rho == 0.0:
        return
    growth = np.float32(np.exp(rho * dt))
    np.divide(u * growth, 1.0 + u * (growth - 1.0), out=u)


def diffusion_step(u: np.ndarray, conductances: list[np.ndarray], dt: float, change: np.ndarray, flux: list[np.ndarray]) -> None:
    """In place: one explicit finite-volume diffusion step (``change`` and ``flux`` are scratch buffers)."""
    change.fill(0.0)
    for axis, (c, f) in enumerate(zip(conductances, flux)):
        head = tuple(slice(0, -1) if a == axis else slice(None) for a in range(u.ndim))
        tail = tuple(slice(1, None) if a == axis else slice(None) for a in range(u.ndim))
        np.subtract(u[tail], u[head], out=f)
        f *= c
        change[head] += f
        change[tail] -= f
    change *= np.float32(dt)
    u += change


def simulate(
    u0: np.ndarray,
    diffusivity: np.ndarray,
    spacing: Sequence[float],
    rho: float,
    days: Sequence[int],
    progress: Callable[[float], None] | None = None,
) -> dict[int, np.ndarray]:
    """Densities at each of ``days`` (float32 copies), starting from ``u0`` at day 0.

    The time step is a whole fraction of a day (1/n, within the stability limit), the same
    whatever days are asked: a day's result does not depend on the other days requested.

    Args:
        u0: initial density in [0, 1].
        diffusivity: D in mm^2/day per voxel (0: no tissue; such voxels hold no cells and pass none).
        spacing: voxel size in mm along each array axis.
        rho: net proliferation rate in 1/day (0: diffusion only; negative: net cell loss).
        days: times to return, positive integers.
        progress: called with the fraction of simulated time done, once per simulated day.
    """
    u = np.clip(u0.astype(np.float32), 0.0, 1.0)
    u[diffusivity <= 0] = 0.0  # no tissue, no cells
    conductances = face_conductances(diffusivity, spacing)
    per_day = max(1, int(np.ceil(1.0 / min(stable_time_step(conductances, u.shape), 1.0) - 1e-9)))
    dt = 1.0 / per_day
    change = np.empty_like(u)
    flux = [np.empty(c.shape, np.float32) for c in conductances]
    targets = sorted({int(d) for d in days})
    results: dict[int, np.ndarray] = {}
    day = 0
    for target in targets:
        while day < target:
            for _ in range(per_day):
                diffusion_step(u, conductances, dt, change, flux)
                logistic_step(u, rho, dt)
                np.clip(u, 0.0, 1.0, out=u)
            day += 1
            if progress is not None:
                progress(day / targets[-1])
        results[target] = u.copy()
    return results
