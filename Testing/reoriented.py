"""The same image stored in another voxel order, built by hand (numpy only), to test ``geometry.to_canonical`` against."""

from __future__ import annotations

import numpy as np

from DiffusionSynthLib.volume import Volume

WORLD_AXIS = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}


def stored_as(volume: Volume, axcodes: str) -> Volume:
    """``volume``'s voxels stored with array axis ``t`` running towards ``axcodes[t]`` (RAS, PIR, ...).

    Each source axis is matched to the world axis its direction is closest to; the array is
    transposed and flipped, and the matrix changed so that every voxel keeps its world position.
    """
    closest = np.argmax(np.abs(volume.direction), axis=0)  # world axis of each array axis
    signs = np.sign(volume.direction[closest, range(3)])
    order, flips = [], []
    for letter in axcodes:
        world, sign = WORLD_AXIS[letter]
        source = int(np.flatnonzero(closest == world)[0])
        order.append(source)
        flips.append(signs[source] != sign)
    array = np.transpose(volume.array, order)
    index_map = np.zeros((4, 4))  # new (i, j, k, 1) -> old (i, j, k, 1)
    index_map[3, 3] = 1.0
    for target, (source, flip) in enumerate(zip(order, flips)):
        if flip:
            array = np.flip(array, axis=target)
            index_map[source, target], index_map[source, 3] = -1.0, volume.shape[source] - 1
        else:
            index_map[source, target] = 1.0
    return Volume(np.ascontiguousarray(array), volume.ijk_to_ras @ index_map)
