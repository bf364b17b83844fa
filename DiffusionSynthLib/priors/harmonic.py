"""Harmonic fill: Laplace's equation inside a region, the image outside it as boundary values.

The smoothest fill that agrees with every known voxel around the region (the BraTS inpainting
challenge's strongest classical baseline). A sparse linear system solved by scipy: several images
on the same region (the sequences of one case) share one matrix and one factorisation.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, sparse
from scipy.sparse.linalg import cg, splu

DIRECT_LIMIT = 20_000  # unknowns; larger systems use conjugate gradients (the matrix is symmetric positive definite)


def harmonic_fill(image: np.ndarray, region: np.ndarray, domain: np.ndarray | None = None) -> np.ndarray:
    """``image`` (float32 copy) with the voxels of ``region`` replaced by the harmonic interpolant.

    ``image`` is one image of ``region``'s shape or a stack of them (C, ...), each filled on its own. Voxels of
    ``region`` on the array's border take the mean of their in-array neighbours (no flux through the border).
    With ``domain`` (for example the brain), voxels outside it are no boundary either (no flux through the
    domain's edge: the background does not pull the fill towards its value); a part of the region with no
    known neighbour in the domain takes the domain's mean. An empty region returns the image unchanged.
    """
    region = np.asarray(region, bool)
    stacked = image.ndim == region.ndim + 1
    out = (image if stacked else image[None]).astype(np.float32, copy=True)
    if not region.any():
        return out if stacked else out[0]
    usable = None if domain is None else np.asarray(domain, bool) | region
    for box in ndimage.find_objects(ndimage.label(region)[0]):
        box = tuple(slice(max(s.start - 1, 0), s.stop + 1) for s in box)
        channels = (slice(None),) + box
        out[channels] = _solve_box(out[channels], region[box], None if usable is None else usable[box])
    if usable is not None:
        known = usable & ~region
        for channel, original in zip(out, image if stacked else image[None]):
            orphans = region & ~np.isfinite(channel)
            channel[orphans] = float(original[known].mean()) if known.any() else 0.0
    return out if stacked else out[0]


def _solve_box(subs: np.ndarray, inside: np.ndarray, usable: np.ndarray | None = None) -> np.ndarray:
    """(C, ...) each image of ``subs`` solved inside ``inside``: one matrix, one right-hand side per image."""
    count = int(inside.sum())
    index = -np.ones(inside.shape, np.int64)
    index[inside] = np.arange(count)
    points = np.argwhere(inside)
    own = np.arange(count)
    diagonal = np.zeros(count)
    rhs = np.zeros((len(subs), count))
    rows, cols = [], []
    boundary = 0
    for axis in range(3):
        for step in (-1, 1):
            neighbour = points.copy()
            neighbour[:, axis] += step
            valid = (neighbour[:, axis] >= 0) & (neighbour[:, axis] < inside.shape[axis])
            if usable is not None:
                valid[valid] = usable[tuple(neighbour[valid].T)]
            n_index = np.full(count, -1)
            n_index[valid] = index[tuple(neighbour[valid].T)]
            diagonal += valid
            known = valid & (n_index < 0)
            boundary += int(known.sum())
            rhs[:, known] += subs[(slice(None),) + tuple(neighbour[known].T)]
            free = n_index >= 0
            rows.append(own[free])
            cols.append(n_index[free])
    filled = subs.astype(np.float32, copy=True)
    if boundary == 0:  # nothing known around this part (only possible with a domain): the caller fills it
        filled[:, inside] = np.nan
        return filled
    off = np.concatenate(rows)
    matrix = sparse.csr_matrix((-np.ones(off.size), (off, np.concatenate(cols))), shape=(count, count))
    matrix = matrix + sparse.diags(diagonal)
    if count <= DIRECT_LIMIT:
        factor = splu(matrix.tocsc())
        for channel, values in enumerate(rhs):
            filled[channel][inside] = factor.solve(values)
        return filled
    for channel, values in enumerate(rhs):
        start = np.full(count, float(values.sum() / max(diagonal.sum() - off.size, 1.0)))
        solution, _ = cg(matrix, values, x0=start, rtol=1e-6, maxiter=5000)
        filled[channel][inside] = solution
    return filled
