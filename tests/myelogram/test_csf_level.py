"""The CSF level fitted through the blur (pipeline.myelogram._csf_level), on ray profiles with known truth.

Each ray crosses cord, a CSF layer and the tissue outside, blurred by a Gaussian along the ray: the profiles
the partial-volume model describes, so its level and blur can be checked exactly.
"""

from __future__ import annotations

import numpy as np
from scipy import special

from pipeline.myelogram._csf_level import blur_sigma_mm, fit_csf_level

STEP_MM = 0.1
N_RAYS = 72
CORD_HU, OUTSIDE_HU = 30.0, 50.0


def _rays(
    sigma_mm: float, layer_mm: np.ndarray, level_hu: np.ndarray | float, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Profiles (N_RAYS, 300) with the pia at 5-7 mm and the dura ``layer_mm`` beyond it; ``level_hu`` per
    sample (or one value)."""
    radius = np.arange(300) * STEP_MM
    pia = 5.0 + 2.0 * np.random.default_rng(0).random(N_RAYS)
    dura = pia + layer_mm
    cord = special.ndtr((pia[:, None] - radius) / sigma_mm)
    outside = special.ndtr((radius - dura[:, None]) / sigma_mm)
    along = CORD_HU * cord + level_hu * (1 - cord - outside) + OUTSIDE_HU * outside
    if seed is not None:
        along = along + np.random.default_rng(seed).normal(0.0, 5.0, along.shape)
    return along, pia / STEP_MM, dura / STEP_MM


def test_blur_is_measured_on_the_rise_into_the_csf() -> None:
    """A Gaussian step rises from 25 to 75 % over 1.349 sigma; the rays' CSF is 5 mm thick (the thin ones
    of the next test would look sharper, and are left out when enough thick ones exist)."""
    for sigma in (0.5, 0.8, 1.2):
        along, pia, dura = _rays(sigma, np.full(N_RAYS, 5.0), 600.0)
        assert abs(blur_sigma_mm(along, pia, dura, CORD_HU, STEP_MM) - sigma) < 0.1, sigma


def test_level_is_found_through_the_blur_of_thin_layers() -> None:
    """Contrast layered across the slice (the plane a + b y) and layers 1.2-5 mm thick, thinner where the
    contrast is lighter: the samples of the thin layers stay below their level, but the model recovers it
    within 7 % everywhere (with the blur known, within 0.3 %; it is measured 11 % wide here, the contrast
    rising along the dorsal rays widening their rise); the plane through the samples as they are is off
    by up to 38 % (more than 10 % is asserted)."""
    angles = np.linspace(0.0, 2 * np.pi, N_RAYS, endpoint=False)
    radius = np.arange(300) * STEP_MM
    points = np.stack(
        [np.cos(angles)[:, None] * radius, np.sin(angles)[:, None] * radius], axis=-1
    )  # ray frame, mm
    layer = 3.1 + 1.9 * np.sin(angles)  # 1.2 mm ventrally (-y), 5 mm dorsally
    sigma = 0.8
    truth = 550.0 + 12.0 * points[..., 1]  # HU: denser dorsally (+y)
    for seed in range(3):
        along, pia, dura = _rays(sigma, layer, truth, seed)
        positions = np.arange(300)[None, :]
        window = (positions >= pia[:, None]) & (positions <= dura[:, None])
        fitted = fit_csf_level(along, points, pia, dura, window, CORD_HU, STEP_MM)
        assert fitted is not None
        error = fitted.level[window] / truth[window] - 1.0
        assert np.abs(error).max() < 0.07, (seed, np.round(np.abs(error).max(), 3))
        # The plane through the samples as they are (the level the layers reach), for comparison.
        reached = fit_csf_level(along, points, pia, dura, window, CORD_HU, STEP_MM, through_blur=False)
        assert reached is not None
        assert np.abs(reached.level[window] / truth[window] - 1.0).max() > 0.1
