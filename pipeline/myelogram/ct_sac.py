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

A cord found only on weak rings (dilute contrast, or pixels so coarse that the thin CSF blurs to a faint
ring) has a sac whose outline is approximate and often runs over the blurred bone around the canal
(:func:`keep_sac_off_bone`). There the contrast is dimmer than bone, so bone is what is clearly brighter
than the sac's own CSF ring: the CSF stops at it and keeps only what is reached from the cord without
crossing it. The rule scales with the CSF level found, so dense contrast (as bright as bone) is left alone.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
from scipy import ndimage

from pipeline.myelogram._grid import AxialGrid
from pipeline.myelogram._rays import rasterise
from pipeline.myelogram.cord import CordCrossSection, CordSegmentation
from pipeline.seeds import Seeds
from pipeline.volume import Volume

__all__ = ["anatomical_reach_mm", "keep_sac_off_bone", "smooth_sac_radii_mm", "trim_sac_lobes"]

# Harmonics of the smooth outline: an off-centre ellipse, egg-shaped front to back, needs up to 3.
HARMONICS = 3
# A ray further out than the smooth outline by more than this is a lobe (mm).
LOBE_TOLERANCE_MM = 2.0
ROBUST_ROUNDS = 5
# Weak rings: bone is brighter than the sac's CSF ring level by more than this fraction of the CSF-minus-
# cord step (dorsal pooling of dilute contrast stays below it: 0.5 cut the pooled layer on coarse draws),
# measured on the slice smoothed in-plane by BONE_SMOOTHING_MM (noise).
WEAK_RING_BONE_FRACTION = 0.75
BONE_SMOOTHING_MM = 0.7
# In-plane connectivity only: the CSF is kept per slice where it is reached from that slice's cord.
_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)


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


def keep_sac_off_bone(volume: Volume, cord: CordSegmentation) -> CordSegmentation:
    """The segmentation with the CSF of a cord found on weak rings kept off the bone around the canal.

    Bone is where the slice (smoothed in-plane) is brighter than the sac's CSF level by more than
    WEAK_RING_BONE_FRACTION of the CSF-minus-cord step; the CSF keeps, per slice, what is connected to the
    cord without crossing it. Only the CSF mask changes (the outlines of a weak-ring cord are approximate
    and not used for planning). A cord found on the usual rings is returned unchanged.
    """
    if not cord.weak_rings:
        return cord
    grid = AxialGrid.from_volume(volume)
    spacing = grid.spacing_mm
    sigma = (BONE_SMOOTHING_MM / spacing[0], BONE_SMOOTHING_MM / spacing[1], 0.0)
    smooth = ndimage.gaussian_filter(np.asarray(grid.array, dtype=np.float32), sigma=sigma, mode="nearest")
    barrier = cord.csf_level + WEAK_RING_BONE_FRACTION * (cord.csf_level - cord.cord_level)
    cord_view = grid.from_input(cord.cord_mask)
    open_csf = grid.from_input(cord.csf_mask) & (smooth <= barrier)
    labels, _ = ndimage.label(open_csf | cord_view, structure=_IN_PLANE)
    reached = np.unique(labels[cord_view])
    csf = open_csf & np.isin(labels, reached[reached > 0])
    return replace(cord, csf_mask=grid.to_input(csf))
