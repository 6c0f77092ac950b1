"""CT: the CSF level across one slice, fitted through the blur at the pia and the dura.

Contrast layers by gravity, so on one slice its density changes smoothly across the sac (denser dorsally
when supine): a plane a + b x + c y. Where the CSF layer is thin, its samples never reach that level: the
blur mixes in the cord on one side and the tissue outside the dura on the other, the more so the thinner
the layer (a wall under 4 mm reads up to 40 % below its density: Augat et al., Phys Med Biol
1998;43:2873). The layer is thinnest ventrally and laterally, so a plane fitted to the samples as they are
tilts and the ventral level comes out far too low (family seed 0: about 270 against 520 HU; the pia,
half-way to it, lay inside the cord, whose area came out 12 % small).

Each sample along a ray is modelled instead as a blurred slab: the cord level inside the pia, the plane
between pia and dura, and the level measured beyond the dura outside it, each weighted by its share under
a Gaussian blur along the ray (the blur-and-width model of narrow structures on CT: Hangartner & Short,
IEEE Nucl Sci Symp 2001;3:1671). Given the blur the plane is a linear least-squares fit; the blur is not
known from the scan, so it is measured on the rays' rise from the cord into the CSF
(:func:`blur_sigma_mm`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

# Blur measurement (blur_sigma_mm): the rise from RISE_LOW to RISE_HIGH of its height, searched from
# RISE_SEARCH_MM inside the pia, on the rays whose layer is THICK_LAYER_SIGMAS blurs wide when at least
# MIN_THICK_RAYS are; the SIGMA_PERCENTILE of the rays' values, within SIGMA_BOUNDS_MM.
RISE_LOW, RISE_HIGH = 0.25, 0.75
RISE_SEARCH_MM = 2.0
THICK_LAYER_SIGMAS = 4.0
MIN_THICK_RAYS = 8
SIGMA_PERCENTILE = 25.0
SIGMA_BOUNDS_MM = (0.3, 2.0)
MIN_SAMPLES = 60
OUTLIER_SCATTERS = 2.5
# The tissue outside the dura is measured over this length, beyond the blur of its edge (here two blur
# sigmas; the dura rules of pipeline.myelogram._rays use it too).
OUTSIDE_WIDTH_MM = 1.5


@dataclass(frozen=True)
class CsfLevel:
    """The fitted level on every ray sample, and the robust scatter of the samples about the model."""

    level: np.ndarray
    scatter: float


def _robust_plane(design: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, float] | None:
    """Least-squares coefficients with outliers (beyond ``OUTLIER_SCATTERS`` robust scatters) left out."""
    keep = np.ones(values.size, dtype=bool)
    coefficients = np.zeros(design.shape[1])
    scatter = 0.0
    for _ in range(3):
        coefficients, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        residual = values - design @ coefficients
        scatter = 1.4826 * float(np.median(np.abs(residual[keep])))
        keep = np.abs(residual) <= OUTLIER_SCATTERS * max(scatter, 1e-6)
        if keep.sum() < MIN_SAMPLES:
            return None
    return coefficients, scatter


def blur_sigma_mm(
    along: np.ndarray, pia: np.ndarray, dura: np.ndarray, cord_level: float, step_mm: float
) -> float:
    """Gaussian sigma (mm) of the blur along the rays, from the width of their rise into the CSF.

    A Gaussian-blurred step rises from 25 % to 75 % of its height over 1.349 sigma, wherever the step lies
    and whatever its height. The height is the ray's peak between pia and dura; a thin layer's peak stops
    short of the level and its rise looks steeper, so the thick layers are used when there are enough. Noise
    on the peak and contrast still rising along the layer (dorsal layering) widen a rise, never narrow it:
    a low percentile is taken (on the test slices the median came out 20-35 % wide with dilute contrast, the
    25th percentile within 10 %). Without any measurable rise, the smallest blur (the least correction).
    """
    positions = np.arange(along.shape[1])[None, :]
    rows = np.isfinite(pia) & np.isfinite(dura)
    inside = (positions >= np.nan_to_num(pia, nan=0.0)[:, None]) & (
        positions <= np.nan_to_num(dura, nan=0.0)[:, None]
    )
    peak = np.where(inside, along, -np.inf).max(axis=1)
    rise = peak - cord_level
    start = np.maximum(np.nan_to_num(pia, nan=0.0) - RISE_SEARCH_MM / step_mm, 0)
    searched = (positions >= start[:, None]) & (positions <= np.nan_to_num(dura, nan=0.0)[:, None])
    # The first sample at 75 % of the rise, and the last one below 25 % before it (searching back from the
    # top keeps a noise spike in the cord from starting the rise early).
    high = searched & (along >= (cord_level + RISE_HIGH * rise)[:, None])
    top = np.where(high.any(axis=1), np.argmax(high, axis=1), 0)
    low = searched & (positions < top[:, None]) & (along < (cord_level + RISE_LOW * rise)[:, None])
    bottom = np.where(low.any(axis=1), along.shape[1] - 1 - np.argmax(low[:, ::-1], axis=1), top)
    sigma = (top - bottom) * step_mm / (special.ndtri(RISE_HIGH) - special.ndtri(RISE_LOW))
    valid = rows & np.isfinite(rise) & (rise > 0) & (sigma > 0)
    estimate = float(np.percentile(sigma[valid], SIGMA_PERCENTILE)) if valid.any() else SIGMA_BOUNDS_MM[0]
    thick = valid & ((dura - pia) * step_mm >= THICK_LAYER_SIGMAS * estimate)
    if thick.sum() >= MIN_THICK_RAYS:
        estimate = float(np.percentile(sigma[thick], SIGMA_PERCENTILE))
    return float(np.clip(estimate, *SIGMA_BOUNDS_MM))


def fit_csf_level(
    along: np.ndarray,
    points_mm: np.ndarray,
    pia: np.ndarray,
    dura: np.ndarray,
    window: np.ndarray,
    cord_level: float,
    step_mm: float,
    through_blur: bool = True,
) -> CsfLevel | None:
    """CSF level on every sample of the rays ``along`` (N rays, S samples) from the samples in ``window``.

    ``pia`` and ``dura`` are each ray's edges found so far (sample indices; NaN: the ray is not used),
    ``points_mm`` the samples' in-plane positions, ``step_mm`` the sample spacing. Without
    ``through_blur`` the plane is fitted to the samples as they are: the level the layers reach. None when
    fewer than ``MIN_SAMPLES`` samples can be modelled.
    """
    rows = np.isfinite(pia) & np.isfinite(dura)
    ray, sample = np.nonzero(window & rows[:, None])
    if ray.size < MIN_SAMPLES:
        return None
    values = along[ray, sample]
    xy = np.stack([np.ones(ray.size), points_mm[ray, sample, 0], points_mm[ray, sample, 1]], axis=1)
    if through_blur:
        sigma = blur_sigma_mm(along, pia, dura, cord_level, step_mm) / step_mm
        csf_share, rest = _unblurred(along, values, ray, sample, pia, dura, cord_level, sigma, step_mm)
    else:
        csf_share, rest = np.ones(ray.size), values
    fitted = _robust_plane(csf_share[:, None] * xy, rest)
    if fitted is None:
        return None
    coefficients, scatter = fitted
    plane = coefficients[0] + coefficients[1] * points_mm[..., 0] + coefficients[2] * points_mm[..., 1]
    return CsfLevel(plane, scatter)


def _unblurred(
    along: np.ndarray,
    values: np.ndarray,
    ray: np.ndarray,
    sample: np.ndarray,
    pia: np.ndarray,
    dura: np.ndarray,
    cord_level: float,
    sigma: float,
    step_mm: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Each sample's CSF share under the blur (``sigma`` in samples) and its value less the shares of cord
    and outside tissue, whose level is each ray's mean over ``OUTSIDE_WIDTH_MM`` from two sigmas past its
    dura (from cumulative sums)."""
    cumulative = np.concatenate([np.zeros((along.shape[0], 1)), np.cumsum(along, axis=1)], axis=1)
    width = max(1, round(OUTSIDE_WIDTH_MM / step_mm))
    start = np.clip(np.round(np.nan_to_num(dura, nan=0.0) + 2.0 * sigma).astype(np.int64), 0, along.shape[1])
    end = np.minimum(start + width, along.shape[1])
    every_ray = np.arange(along.shape[0])
    count = end - start
    outside = np.where(
        count > 0,
        (cumulative[every_ray, end] - cumulative[every_ray, start]) / np.maximum(count, 1),
        cord_level,
    )
    cord_share = special.ndtr((pia[ray] - sample) / sigma)
    outside_share = special.ndtr((sample - dura[ray]) / sigma)
    csf_share = np.clip(1.0 - cord_share - outside_share, 0.0, 1.0)
    return csf_share, values - cord_level * cord_share - outside[ray] * outside_share
