"""Diffusion gradient directions for the phantom (FSL .bvec convention: ``pipeline.volume``).

Directions are spread on a hemisphere by a Fibonacci (golden-angle) lattice: deterministic, no random
state, and near-uniform for any count, which is all a tensor fit needs (a 20-direction clinical scheme,
Shepherd et al. AJNR 2017).
"""

from __future__ import annotations

import numpy as np

__all__ = ["fibonacci_hemisphere"]


def fibonacci_hemisphere(count: int) -> np.ndarray:
    """``count`` unit vectors on the upper hemisphere (z >= 0), shape (count, 3)."""
    if count < 6:
        raise ValueError(f"a tensor needs at least 6 gradient directions, got {count}")
    index = np.arange(count, dtype=np.float64) + 0.5
    z = 1.0 - index / count  # uniform in z on (0, 1): equal-area on the hemisphere
    radius = np.sqrt(1.0 - z**2)
    azimuth = np.pi * (3.0 - np.sqrt(5.0)) * index
    return np.stack([radius * np.cos(azimuth), radius * np.sin(azimuth), z], axis=1)
