"""Keep the contrast-filled CSF of a CT myelogram inside the dural sac, out of bone and disc.

On a CT myelogram the contrast (200-1000 HU) is as dense as cancellous bone (~300 HU), so where the sac
touches a lamina, a vertebral body or a blurred joint, the rays that outline the dura
(:mod:`pipeline.myelogram._rays`) can run on into the bone: the outline grows a lobe. The dura itself is a
smooth tube, close to an ellipse on each axial slice (wider dorsally above C1, where it opens into the
cisterna magna, but still smooth). So each slice's outline is fitted, robustly, by a low-order Fourier
series of its radius about the ray origin, and any ray that reaches well beyond that smooth outline is
pulled back onto it. Lobes only ever point outwards, so only outward outliers are trimmed; nothing here
grows the sac, and no fixed HU level is used, so it works at any contrast density.

Where the pixels are coarse (a 3 mm CT resampled finer), bone and disc blur to the density of thin
contrast all round the sac, so a whole side of the outline runs on and no lobe stands out. The dura is
then held within its anatomical reach of the cord (``myelogram.ct.max_sac_reach_mm``): sideways and
forwards, never backwards, where the sac opens into the cisterna magna.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from pipeline.myelogram._grid import AxialGrid
from pipeline.myelogram._rays import rasterise
from pipeline.myelogram.cord import CordCrossSection, CordSegmentation
from pipeline.seeds import Seeds
from pipeline.volume import Volume

__all__ = ["anatomical_reach_mm", "smooth_sac_radii_mm", "trim_sac_lobes"]

# Harmonics of the smooth outline: an off-centre ellipse, egg-shaped front to back, needs up to 3.
HARMONICS = 3
# A ray further out than the smooth outline by more than this is a lobe (mm).
LOBE_TOLERANCE_MM = 2.0
ROBUST_ROUNDS = 5


def smooth_sac_radii_mm(angles: np.ndarray, radii_mm: np.ndarray) -> np.ndarray:
    """Radii with outward lobes trimmed back onto a robust low-order Fourier fit of the outline.

    Parameters
    ----------
    angles : (N,) ndarray
        Ray directions (radians), equally spaced.
    radii_mm : (N,) ndarray
        Distance of the dura from the ray origin along each ray.
    """
    columns = [np.ones_like(angles)]
    for k in range(1, HARMONICS + 1):
        columns += [np.cos(k * angles), np.sin(k * angles)]
    design = np.stack(columns, axis=1)
    inlier = np.ones(radii_mm.size, dtype=bool)
    fit = radii_mm
    for _ in range(ROBUST_ROUNDS):
        if inlier.sum() <= design.shape[1] + 2:
            break
        coefficients, *_ = np.linalg.lstsq(design[inlier], radii_mm[inlier], rcond=None)
        fit = design @ coefficients
        # Notches (an artery crossing the dura, a ray stopped short) are left out of the fit as lobes are:
        # kept in, they pull the outline in and their neighbours are then trimmed as lobes.
        updated = np.abs(radii_mm - fit) <= LOBE_TOLERANCE_MM
        if np.array_equal(updated, inlier):
            break
        inlier = updated
    return np.where(radii_mm - fit > LOBE_TOLERANCE_MM, np.maximum(fit, 0.0), radii_mm)


def anatomical_reach_mm(angles: np.ndarray, lateral_mm: float, anterior_mm: float) -> np.ndarray:
    """Farthest the dura may lie from the cord's centre along each ray of an L-P-S axial slice.

    Forwards (negative P) an ellipse with these semi-axes, backwards only the lateral bound: a cord
    turned by the head's yaw (up to ~15°) keeps its sac inside the ellipse.
    """
    x, y = np.cos(angles), np.sin(angles)
    lateral = lateral_mm / np.maximum(np.abs(x), 1e-9)
    ellipse = 1.0 / np.sqrt((x / lateral_mm) ** 2 + (y / anterior_mm) ** 2)
    return np.where(y < 0, ellipse, lateral)


def trim_sac_lobes(volume: Volume, cord: CordSegmentation, seeds: Seeds) -> CordSegmentation:
    """The segmentation with every slice's sac outline trimmed of lobes, held within the sac's anatomical
    reach (``seeds``: ``myelogram.ct.max_sac_reach_mm``) and the CSF mask redrawn."""
    lateral_mm, anterior_mm = seeds.numbers("myelogram.ct.max_sac_reach_mm")
    grid = AxialGrid.from_volume(volume)
    spacing = grid.spacing_mm
    cord_view = grid.from_input(cord.cord_mask)
    sac_view = grid.from_input(cord.csf_mask) | cord_view
    sections: list[CordCrossSection] = []
    for section in cord.cross_sections:
        origin_index = grid.lps_to_index(section.ray_origin_lps_mm)
        outline_index = grid.lps_to_index(section.sac_outline_lps_mm)
        offsets_mm = (outline_index[:, :2] - origin_index[:2]) * spacing[:2]
        radii = np.linalg.norm(offsets_mm, axis=1)
        angles = np.arctan2(offsets_mm[:, 1], offsets_mm[:, 0]) % (2 * np.pi)
        order = np.argsort(angles)
        trimmed = radii.copy()
        trimmed[order] = smooth_sac_radii_mm(angles[order], radii[order])
        trimmed = np.minimum(trimmed, anatomical_reach_mm(angles, lateral_mm, anterior_mm))
        if np.allclose(trimmed, radii):
            sections.append(section)
            continue
        z = section.slice_index
        centre_mm = origin_index[:2] * spacing[:2]
        inside = rasterise(sac_view.shape[:2], spacing[:2], centre_mm, angles[order], trimmed[order])
        sac_view[:, :, z] &= inside | cord_view[:, :, z]
        scale = np.where(radii > 0, trimmed / np.maximum(radii, 1e-9), 0.0)[:, None]
        outline = section.ray_origin_lps_mm + scale * (section.sac_outline_lps_mm - section.ray_origin_lps_mm)
        sections.append(replace(section, sac_outline_lps_mm=outline))
    csf = grid.to_input(sac_view & ~cord_view)
    return replace(cord, csf_mask=csf, cross_sections=tuple(sections))
