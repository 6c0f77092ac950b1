"""Spinal cord and CSF (thecal sac) segmentation on a CT myelogram or a T2/T1 MRI.

Method (classical, no trained weights):

1. View the volume in its nearest L-P-S axis order (no resampling) and map it to a CSF-bright working
   scale (:mod:`pipeline.myelogram.contrast`).
2. Find the cord without priors: on every axial slice, dark compact holes enclosed by bright CSF, at a
   few CSF levels; link them across slices with a longest-path search; the cord is the longest tube
   (:mod:`pipeline.myelogram._candidates`).
3. Outline cord and sac on each slice from rays cast from the cord centre, with half-maximum edges per
   ray (:mod:`pipeline.myelogram._rays`); re-centre on the outline and trace again.
4. 3-D continuity: slices where the outline fails inside the tube (a broken CSF ring) take the outline
   interpolated from their neighbours; the tube is extended past its ends while the outline holds.

Everything is measured in mm, so anisotropic voxels (a DWI mean b0 with 5 mm slices) need no special
case. Cords cut obliquely by the slices (a rotated head) give the oblique cross-section on each slice,
which is exactly the cord's footprint on that slice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from scipy import ndimage

from pipeline.errors import AnalysisError
from pipeline.myelogram._candidates import (
    BLOB_INNER_MM,
    MAX_CORD_AREA_MM2,
    MIN_CORD_AREA_MM2,
    HoleCandidates,
    find_blob_candidates,
    find_hole_candidates,
    longest_chain,
    merge_candidates,
)
from pipeline.myelogram._grid import AxialGrid
from pipeline.myelogram._rays import N_RAYS, RayOutline, rasterise, trace_outline, trace_outline_mri
from pipeline.myelogram.contrast import Contrast, ContrastModel, parse_contrast, working_image
from pipeline.myelogram.mri_contrast import contrast_from_header, contrast_from_modality
from pipeline.myelogram.shape_prior import cervical_cord_prior
from pipeline.seeds import Seeds
from pipeline.volume import Volume

log = logging.getLogger("cordotomy")

# A slice's outline is accepted when at least this fraction of rays found the CSF edge themselves.
MIN_VALID_RAYS = 0.6
# Candidate search runs on an in-plane grid no finer than this (speed; the outline uses full resolution).
SEARCH_PIXEL_MM = 0.8
# MRI needs no finer search grid than 1 mm (the cord is >= 6 mm across; the outline uses full resolution).
SEARCH_PIXEL_MM_MRI = 1.0
# Margin around the cord line kept for the full-resolution work.
CROP_MARGIN_MM = 30.0
# In-plane smoothing of the image on which edges are placed on fine CT grids (detection uses the model's
# stronger one).
EDGE_SMOOTHING_MM = 0.2
# MRI: an outline is accepted with half its rays traced (the shape fit completes it), and when its
# CSF-minus-cord step is at least this many noise standard deviations (else it is not a CSF/cord edge).
MIN_VALID_RAYS_MRI = 0.5
MIN_CNR_MRI = 4.0
# MRI slices whose cord area is outside this band around the median of the traced slices are misled.
AREA_CONSISTENCY = (0.7, 1.4)
# Past the ends of the tube, tracing stops once the slices that failed in a row span about this many mm
# (one slice when they are this thick); a shorter run of failed slices is bridged.
EXTENSION_GAP_MM = 3.0
POLARITY_AREA_SIGMA = 0.4
# MRI tube search: weight of a ring-tested dark disk relative to a CSF-enclosed hole; tubes tried; the
# validation score (of 9 sampled slices, see _polarity_score) at which a tube is taken without trying more.
BLOB_WEIGHT = 0.5
MAX_TUBES_TRIED = 3
GOOD_TUBE_SCORE = 4.5
AUTO = "auto"
# CT, weak rings: gaps of up to twice this in a CSF ring (where a displaced cord touches the dura) are
# bridged by a closing of the bright CSF before its holes are filled.
RING_GAP_CLOSING_MM = 2.0


@dataclass(frozen=True)
class CordCrossSection:
    """The cord and sac on one axial slice of the working view.

    Attributes
    ----------
    slice_index : int
        Index along the superior axis of the L-P-S view of the input.
    center_lps_mm : (3,) ndarray
        Centroid of the cord outline.
    area_mm2 : float
        Cord cross-sectional area on this slice.
    cord_outline_lps_mm, sac_outline_lps_mm : (N, 3) ndarray
        Closed outlines (pia, dura) as points in LPS mm, counter-clockwise in the slice plane.
    interpolated : bool
        True when the outline was interpolated from neighbouring slices (CSF ring not traceable here).
    ray_origin_lps_mm : (3,) ndarray
        The point the outline's rays start from (outline point k lies along ray k from it).
    """

    slice_index: int
    center_lps_mm: np.ndarray
    area_mm2: float
    cord_outline_lps_mm: np.ndarray
    sac_outline_lps_mm: np.ndarray
    interpolated: bool
    ray_origin_lps_mm: np.ndarray


@dataclass(frozen=True)
class CordSegmentation:
    """Result of :func:`segment_cord`.

    Attributes
    ----------
    cord_mask, csf_mask : ndarray of bool
        On the input volume's grid (same shape and axis order as ``volume.array``).
    centerline_lps_mm : (K, 3) ndarray
        Cord centre on each segmented axial slice, inferior to superior.
    cross_sections : tuple of CordCrossSection
        Per-slice outlines (same order as the centerline).
    affine_lps : (4, 4) ndarray
        The input grid's affine (masks live on it).
    contrast : str
        Contrast mode used.
    cord_level, csf_level : float
        Median cord and CSF intensity (HU on CT, normalised 0-1 on MRI; T1 inverted).
    contrast_source : str
        How the contrast was chosen: ``"given"``, or the header or image evidence when detected.
    weak_rings : bool
        CT only: the usual contrast levels found no cord tube; it was found only with the dim CSF level or
        as dark disks in CSF rings that do not close (dilute contrast, coarse or blurred pixels), so its
        position and outlines are approximate.
    """

    cord_mask: np.ndarray
    csf_mask: np.ndarray
    centerline_lps_mm: np.ndarray
    cross_sections: tuple[CordCrossSection, ...]
    affine_lps: np.ndarray
    contrast: str
    cord_level: float
    csf_level: float
    contrast_source: str = "given"
    weak_rings: bool = False


def describe_volume(volume: Volume) -> str:
    """Name of a volume for messages: series number/description or file, never patient data."""
    return volume.provenance.label


def _downsample_in_plane(image: np.ndarray, factor: int) -> np.ndarray:
    if factor == 1:
        return image
    nx, ny = (image.shape[0] // factor) * factor, (image.shape[1] // factor) * factor
    trimmed = image[:nx, :ny]
    return trimmed.reshape(nx // factor, factor, ny // factor, factor, -1).mean(axis=(1, 3))


def _smooth_in_plane(image: np.ndarray, spacing_mm: np.ndarray, sigma_mm: float) -> np.ndarray:
    sigma = (sigma_mm / spacing_mm[0], sigma_mm / spacing_mm[1], 0.0)
    return ndimage.gaussian_filter(image, sigma=sigma, mode="nearest")


def _find_chain(
    image: np.ndarray,
    grid: AxialGrid,
    model: ContrastModel,
    ct_blobs: bool = False,
    close_mm: float = 0.0,
) -> tuple[HoleCandidates, np.ndarray, int, float]:
    """Cord tube candidates, the chain of them that forms the tube, the search factor and the chain score.

    CT: dark holes enclosed by bright contrast. MRI adds the dark-disk matched filter
    (:func:`find_blob_candidates`), which needs no closed CSF ring, and weighs each candidate by its
    contrast so the clearest tube wins where several are equally long; ``ct_blobs`` adds those on CT too.
    """
    spacing = grid.spacing_mm
    search_mm = SEARCH_PIXEL_MM if model.contrast is Contrast.CT_MYELOGRAM else SEARCH_PIXEL_MM_MRI
    factor = max(1, int(search_mm // max(min(spacing[0], spacing[1]), 1e-6)))
    coarse = _downsample_in_plane(image, factor)
    coarse_spacing = np.array([spacing[0] * factor, spacing[1] * factor, spacing[2]])
    coarse = _smooth_in_plane(coarse, coarse_spacing, model.smoothing_mm)
    candidates = find_hole_candidates(
        coarse,
        coarse_spacing,
        model.hole_levels,
        model.min_step,
        model.max_csf_level,
        model.max_cord_level,
        close_mm=close_mm,
    )
    if model.contrast is Contrast.CT_MYELOGRAM:
        tolerance_mm = 0.0
        if ct_blobs:
            blobs = find_blob_candidates(
                coarse,
                coarse_spacing,
                model.min_step,
                max_ring=model.max_csf_level,
                max_inner=model.max_cord_level,
            )
            candidates = merge_candidates(candidates, blobs)
            tolerance_mm = BLOB_INNER_MM / 2
        chain = longest_chain(candidates, float(spacing[2]), position_tolerance_mm=tolerance_mm)
        return candidates, chain, factor, float(chain.size)
    holes = candidates.slice_index.size
    candidates = merge_candidates(candidates, find_blob_candidates(coarse, coarse_spacing, model.min_step))
    if candidates.contrast.size == 0:
        return candidates, np.zeros(0, dtype=np.int64), factor, 0.0
    reference = float(np.percentile(candidates.contrast, 90))
    weights = np.clip(candidates.contrast / max(reference, 1e-6), 0.25, 1.0)
    # A dark hole closed by CSF is stronger evidence than a dark disk whose ring was only sampled.
    weights[holes:] *= BLOB_WEIGHT
    # Validate the tube by tracing outlines along it; if it does not look like a cord (a dark gap between
    # two bright rings, a vessel), drop it and try the next-best tube; keep the best.
    best: tuple[HoleCandidates, np.ndarray, int, float] = (
        candidates,
        np.zeros(0, dtype=np.int64),
        factor,
        0.0,
    )
    available = np.ones(candidates.slice_index.size, dtype=bool)
    for _ in range(MAX_TUBES_TRIED):
        index = np.flatnonzero(available)
        if index.size == 0:
            break
        subset = _subset(candidates, index)
        chain = index[longest_chain(subset, float(spacing[2]), weights[index])]
        found = (candidates, chain, factor, 0.0)
        score = _polarity_score(image, grid, model, found)
        if score > best[3] or best[1].size == 0:
            best = (candidates, chain, factor, score)
        if score >= GOOD_TUBE_SCORE:
            break
        # Remove the tube: its members and candidates within 6 mm of them on their slices.
        for member in chain:
            same = candidates.slice_index == candidates.slice_index[member]
            near = np.linalg.norm(candidates.center_mm - candidates.center_mm[member], axis=1) <= 6.0
            available &= ~(same & near)
    return best


def _find_ct_chain(
    image: np.ndarray, grid: AxialGrid, model: ContrastModel
) -> tuple[tuple[HoleCandidates, np.ndarray, int, float], ContrastModel, bool]:
    """The CT cord tube, the model it was found with, and whether the rings were weak.

    The usual contrast levels first; then a dim CSF level (dilute or noisy contrast); then that level with
    the ring's gaps bridged (``RING_GAP_CLOSING_MM``: where a displaced cord touches the dura, a dilute ring
    is open); then dark disks ringed by contrast, which need no closed ring (coarse or blurred pixels, a
    3 mm head-and-neck CT resampled finer, leave the thin lateral CSF open on most slices). So blurred,
    contrast is never as bright as cortical bone: a brighter ring is bone (the canal of a CT without
    contrast), and so is a traced CSF level above it. Every retry makes the rings weak: the outlines are
    approximate.
    """
    needed = _slices_needed(grid.shape[2])
    dim = replace(model, hole_levels=model.dim_hole_levels + model.hole_levels)
    for attempt, (levels, close_mm) in enumerate(((model, 0.0), (dim, 0.0), (dim, RING_GAP_CLOSING_MM))):
        found = _find_chain(image, grid, levels, close_mm=close_mm)
        if found[1].size >= needed:
            return found, model, attempt > 0
    model = replace(model, max_csf_level=model.bone_level)
    return _find_chain(image, grid, model, ct_blobs=True), model, True


def _slices_needed(n_slices: int) -> int:
    """Shortest cord tube accepted: a quarter of the slices, at least 3 (or all of a shorter stack)."""
    return min(n_slices, max(3, int(np.ceil(0.25 * n_slices))))


def _subset(candidates: HoleCandidates, index: np.ndarray) -> HoleCandidates:
    return HoleCandidates(
        candidates.slice_index[index],
        candidates.center_mm[index],
        candidates.area_mm2[index],
        candidates.contrast[index],
    )


def _chain_centres(
    found: tuple[HoleCandidates, np.ndarray, int, float],
    grid: AxialGrid,
    model: ContrastModel,
    description: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Slice indices and in-plane centres (mm) of the cord tube found by hole linking."""
    candidates, chain, factor, _ = found
    spacing = grid.spacing_mm
    n_slices = grid.shape[2]
    if chain.size < _slices_needed(n_slices):
        if model.contrast is Contrast.CT_MYELOGRAM:
            raise AnalysisError(
                f"no contrast in the thecal sac of {description}: no contrast-filled CSF ring around a "
                f"hypodense cord was found (best run {chain.size} of {n_slices} slices)"
            )
        raise AnalysisError(
            f"cord not found in {description}: no dark cord enclosed by bright CSF along the spine "
            f"(best run {chain.size} of {n_slices} slices; slices tried: 0-{n_slices - 1} along the "
            f"superior axis, all of them; is --contrast right?)"
        )
    slices = candidates.slice_index[chain]
    # Block-mean pixels: centre of coarse pixel i is at fine index factor*i + (factor-1)/2.
    offset_mm = (factor - 1) / 2 * spacing[:2]
    centres = candidates.center_mm[chain] + offset_mm
    return slices, centres


def _trace(
    slice_image: np.ndarray,
    spacing: np.ndarray,
    centre: np.ndarray,
    model: ContrastModel,
    edge_image: np.ndarray | None = None,
) -> RayOutline:
    if model.contrast is Contrast.CT_MYELOGRAM:
        outline = trace_outline(slice_image, spacing, centre, model.min_step, model.bone_level, edge_image)
        if np.isfinite(outline.cord_radius_mm).all():
            outline = trace_outline(
                slice_image, spacing, outline.cord_centroid_mm(), model.min_step, model.bone_level, edge_image
            )
        return outline
    prior = cervical_cord_prior()
    shape = prior.shape_in_view(np.linspace(0.0, 2 * np.pi, N_RAYS, endpoint=False))
    outline = trace_outline_mri(
        slice_image, spacing, centre, model.min_step, prior.radius_range_mm, shape, edge_image
    )
    if np.isfinite(outline.cord_radius_mm).all():  # re-centre (the start may be off-centre, or in a lesion)
        outline = trace_outline_mri(
            slice_image,
            spacing,
            outline.cord_centroid_mm(),
            model.min_step,
            prior.radius_range_mm,
            shape,
            edge_image,
        )
    return outline


def _acceptable(outline: RayOutline, model: ContrastModel, noise: float = 0.0) -> bool:
    min_step = model.min_step
    mri = model.contrast is not Contrast.CT_MYELOGRAM
    min_valid = MIN_VALID_RAYS_MRI if mri else MIN_VALID_RAYS
    if outline.valid_fraction < min_valid or not np.isfinite(outline.cord_radius_mm).all():
        return False
    if outline.csf_level - outline.cord_level < max(min_step, MIN_CNR_MRI * noise if mri else 0.0):
        return False
    if model.max_cord_level is not None and outline.cord_level > model.max_cord_level:
        return False
    area = outline.cord_area_mm2()
    if mri:
        prior = cervical_cord_prior()
        return prior.min_area_mm2 <= area <= prior.max_area_mm2
    return MIN_CORD_AREA_MM2 <= area <= MAX_CORD_AREA_MM2


def _area_consistent(outline: RayOutline, outlines: dict[int, RayOutline]) -> bool:
    median = float(np.median([o.cord_area_mm2() for o in outlines.values()]))
    return AREA_CONSISTENCY[0] * median <= outline.cord_area_mm2() <= AREA_CONSISTENCY[1] * median


def _drop_area_outliers(outlines: dict[int, RayOutline]) -> dict[int, RayOutline]:
    """Drop MRI slices whose cord area is far from the cord's median area; their neighbours fill them in.

    The cord area changes slowly along the cord (PAM50: 63-73 mm² over C1-C5); a slice whose outline is
    much smaller or larger was misled (a lesion reaching the pia, a nerve root, a flow void) and is
    better interpolated from its neighbours along the cord.
    """
    if len(outlines) < 3:
        return outlines
    kept = {z: o for z, o in outlines.items() if _area_consistent(o, outlines)}
    return kept or outlines


def _noise_sigma(image: np.ndarray) -> float:
    """Robust noise standard deviation of an MRI crop: MAD of the residual from a 3x3 in-plane median.

    Measured on at most 8 evenly spaced slices (the noise level is one number per series).
    """
    picks = np.unique(np.linspace(0, image.shape[2] - 1, min(8, image.shape[2])).round().astype(int))
    image = image[:, :, picks]
    residual = image - ndimage.median_filter(image, size=(3, 3, 1))
    foreground = image > 0.05
    if not foreground.any():
        return 0.0
    return float(1.4826 * np.median(np.abs(residual[foreground])) * 1.2)


def _polarity_score(
    image: np.ndarray,
    grid: AxialGrid,
    model: ContrastModel,
    found: tuple[HoleCandidates, np.ndarray, int, float],
) -> float:
    """How well a polarity explains the image: closed cord outlines along its tube, up to 9 sampled slices.

    With the wrong polarity the tube search still finds dark blobs (a pocket of CSF, fat), but rays from
    them rarely close a cord-sized outline with a CSF ring; each sampled slice scores its fraction of
    valid rays times the likelihood of its area when its outline is acceptable.
    """
    candidates, chain, factor, _ = found
    if chain.size == 0:
        return 0.0
    spacing = grid.spacing_mm
    prior = cervical_cord_prior()
    offset_mm = (factor - 1) / 2 * spacing[:2]
    picks = chain[np.unique(np.linspace(0, chain.size - 1, min(9, chain.size)).round().astype(int))]
    score = 0.0
    for pick in picks:
        z = int(candidates.slice_index[pick])
        plane = image[:, :, z : z + 1]
        smooth = _smooth_in_plane(plane, spacing, model.smoothing_mm)[:, :, 0]
        outline = _trace(smooth, spacing[:2], candidates.center_mm[pick] + offset_mm, model, plane[:, :, 0])
        if _acceptable(outline, model):
            # Likelihood of the area under the PAM50 prior (log-normal, sigma 0.4): with the wrong
            # polarity the outline is often the whole dural sac (2-4x the cord's area).
            log_ratio = np.log(outline.cord_area_mm2() / prior.mean_area_mm2)
            score += outline.valid_fraction * float(np.exp(-0.5 * (log_ratio / POLARITY_AREA_SIGMA) ** 2))
    return score


def _check_polarity(
    grid: AxialGrid, mode: Contrast, score: float, source: str, description: str, seeds: Seeds | None
) -> str:
    """Warn (log and ``contrast_source``) when the opposite polarity explains the image far better.

    A T1 image segmented as T2 (or the reverse) yields the whole dural sac as "cord"; the tube search
    with the other polarity then finds clearly cord-like outlines where the given one does not.
    """
    other = Contrast.T1 if mode is not Contrast.T1 else Contrast.T2
    other_image, other_model = working_image(grid.array, other, seeds)
    other_score = _find_chain(other_image, grid, other_model)[3]
    if other_score >= GOOD_TUBE_SCORE and other_score > 2.0 * score:
        polarity = "dark (T1-like)" if other is Contrast.T1 else "bright (T2-like)"
        warning = (
            f"{description}: the image looks CSF-{polarity.split()[0]} rather than {mode.value} (cord-like "
            f"outlines {other_score:.1f} vs {score:.1f} of 9 sampled slices); is --contrast right?"
        )
        log.warning("%s", warning)
        return (
            f"{source}; warning: CSF looks {polarity} on the image (score {other_score:.1f} vs {score:.1f})"
        )
    return source


def _modality_and_file(volume: Volume) -> tuple[str, str]:
    """DICOM modality and source file name of a volume (from its provenance), if it records them."""
    files = volume.provenance.source_files
    return volume.provenance.modality, (Path(files[0]).name if files else "")


def _resolve_contrast(
    contrast: str, volume: Volume, grid: AxialGrid, header_hints: Mapping[str, object] | None
) -> tuple[Contrast | None, str]:
    """The contrast to use and how it was chosen; ``None`` when only the image can tell (polarity)."""
    if contrast != AUTO:
        return parse_contrast(contrast), "given"
    modality, file_name = _modality_and_file(volume)
    minimum = float(np.min(grid.array)) if grid.array.size else 0.0
    if contrast_from_modality(modality, minimum) is not None:
        return Contrast.CT_MYELOGRAM, "detected: CT numbers / DICOM modality CT"
    hints = dict(header_hints or {})
    if file_name and "file_name" not in hints:
        hints["file_name"] = file_name
    found = contrast_from_header(hints)
    if found is not None:
        return found[0], f"detected from the {found[1]}"
    return None, ""


def segment_cord(
    volume: Volume,
    *,
    contrast: str = "ct-myelogram",
    header_hints: Mapping[str, object] | None = None,
    seeds: Seeds | None = None,
) -> CordSegmentation:
    """Segment the spinal cord and the CSF around it.

    Parameters
    ----------
    volume : Volume
        3-D image: a CT myelogram in HU, a T2-weighted MRI (or a DWI mean b0), or a T1-weighted MRI.
        Any axis order and voxel size; slices need not be isotropic.
    contrast : {"ct-myelogram", "t2", "t2star", "mt", "t1", "auto"}
        ``"ct-myelogram"``: contrast-filled CSF bright (~500 HU), cord dark (~35 HU).
        ``"t2"``, ``"t2star"``, ``"mt"``: CSF bright, cord dark, arbitrary scale. ``"t1"``: CSF dark, cord
        bright (inverted). ``"auto"``: CT from the modality or CT numbers; an MRI contrast from the header
        hints (``header_hints``, from :func:`pipeline.myelogram.mri_contrast.header_hints`) or the source
        file name; else the polarity that gives the clearer cord tube. The result states the contrast used and
        how it was chosen (``contrast_source``).
    seeds : Seeds, optional
        CT levels (``seeds/myelogram.yaml``); defaults to :func:`pipeline.seeds.load_seeds`.

        MRI contrasts use the MRI path: centreline candidates from both enclosed dark holes and a
        ring-tested dark-disk filter (works on short slabs and coarse sagittal pixels), edges at the
        half-maximum of the innermost rise into the CSF regularised by a robust smooth shape fit, and the
        PAM50 cervical cord prior (:mod:`pipeline.myelogram.shape_prior`) for the search range, the
        accepted area and half-traced slices; slices whose area strays from the cord's median are
        interpolated from their neighbours.

    Returns
    -------
    CordSegmentation

    Raises
    ------
    AnalysisError
        "no contrast in the thecal sac" (CT without a contrast-filled CSF ring) or "cord not found"
        (naming the slices tried).
    """
    description = describe_volume(volume)
    grid = AxialGrid.from_volume(volume)
    spacing = grid.spacing_mm
    weak_rings = False
    resolved, contrast_source = _resolve_contrast(contrast, volume, grid, header_hints)
    if resolved is None:
        # Polarity from the image: the cord tube is clearer with the right one (CSF bright or dark).
        trials = []
        for option in (Contrast.T2, Contrast.T1):
            image, model = working_image(grid.array, option, seeds)
            trials.append((_find_chain(image, grid, model), image, model))
        scores = [found[3] for found, _, _ in trials]
        found, image, model = trials[int(np.argmax(scores))]
        mode = model.contrast
        polarity = (
            "bright (T2-like; T2*, MT and T2 are not told apart without a header)"
            if mode is Contrast.T2
            else "dark (T1-like)"
        )
        contrast_source = (
            f"detected from the image: CSF {polarity}; cord-like closed outlines score {max(scores):.1f} vs"
            f" {min(scores):.1f} of 9 sampled slices with the opposite polarity"
        )
    else:
        mode = resolved
        image, model = working_image(grid.array, mode, seeds)
        if mode is Contrast.CT_MYELOGRAM:
            found, model, weak_rings = _find_ct_chain(image, grid, model)
        else:
            found = _find_chain(image, grid, model)
            contrast_source = _check_polarity(grid, mode, found[3], contrast_source, description, seeds)
    slices, centres = _chain_centres(found, grid, model, description)

    # Full-resolution work on a crop around the tube.
    lo_mm = centres.min(axis=0) - CROP_MARGIN_MM
    hi_mm = centres.max(axis=0) + CROP_MARGIN_MM
    lo = np.maximum(np.floor(lo_mm / spacing[:2]).astype(int), 0)
    hi = np.minimum(np.ceil(hi_mm / spacing[:2]).astype(int) + 1, np.asarray(image.shape[:2]))
    raw_crop = image[lo[0] : hi[0], lo[1] : hi[1], :]
    crop = _smooth_in_plane(raw_crop, spacing, model.smoothing_mm)
    # Edges are placed on a lightly smoothed image: smoothing lowers the peak of a thin CSF rim (a large
    # cord in a tight sac), which would pull both half-maximum edges into the rim.
    # Never below half a pixel (coarse MRI pixels need the smoothing against noise and staircase).
    edge_sigma_mm = min(model.smoothing_mm, max(EDGE_SMOOTHING_MM, 0.5 * float(min(spacing[:2]))))
    edge_crop = _smooth_in_plane(raw_crop, spacing, edge_sigma_mm)
    crop_offset_mm = lo * spacing[:2]

    n_slices = image.shape[2]
    noise = _noise_sigma(raw_crop) if mode is not Contrast.CT_MYELOGRAM else 0.0
    outlines: dict[int, RayOutline] = {}
    first, last = int(slices.min()), int(slices.max())
    span = np.arange(first, last + 1)
    centre_x = np.interp(span, slices, centres[:, 0])
    centre_y = np.interp(span, slices, centres[:, 1])
    for k in range(span.size):
        z = first + k
        centre = np.array([centre_x[k], centre_y[k]]) - crop_offset_mm
        outline = _trace(crop[:, :, z], spacing[:2], centre, model, edge_crop[:, :, z])
        if _acceptable(outline, model, noise):
            outlines[z] = outline
    if not outlines:
        # On a CT myelogram a closed cord outline is a cord ringed by contrast: none means no contrast.
        what = "no contrast in the thecal sac of" if mode is Contrast.CT_MYELOGRAM else "cord not found in"
        raise AnalysisError(
            f"{what} {description}: no slice gave a closed cord outline (slices tried: "
            f"{first}-{last} of 0-{n_slices - 1} along the superior axis)"
        )
    if mode is not Contrast.CT_MYELOGRAM:
        outlines = _drop_area_outliers(outlines)
        needed = _slices_needed(n_slices)
        if len(outlines) < needed:
            raise AnalysisError(
                f"cord not found in {description}: only {len(outlines)} slice(s) gave a closed cord outline, "
                f"{needed} needed (slices tried: {first}-{last} of 0-{n_slices - 1} along the superior axis)"
            )
    # Extend past the ends of the tube while the outline holds. A slice or two that fails (a noise blob at
    # the start point, a nerve root) is bridged, as in the tube, and filled in from its neighbours; the
    # outline beyond must match the cord's area.
    max_misses = max(1, round(EXTENSION_GAP_MM / float(spacing[2])))
    for direction, start in ((-1, min(outlines)), (1, max(outlines))):
        z, previous, misses = int(start + direction), outlines[start], 0
        while 0 <= z < n_slices and misses < max_misses:
            outline = _trace(
                crop[:, :, z], spacing[:2], previous.cord_centroid_mm(), model, edge_crop[:, :, z]
            )
            if (
                _acceptable(outline, model, noise)
                # CT cord areas vary more (the medulla widens above C1), but not across a bridged gap.
                and ((mode is Contrast.CT_MYELOGRAM and not misses) or _area_consistent(outline, outlines))
            ):
                outlines[z] = outline
                previous, misses = outline, 0
            else:
                misses += 1
            z += direction

    cord_view = np.zeros(image.shape, dtype=bool)
    sac_view = np.zeros(image.shape, dtype=bool)
    traced = np.array(sorted(outlines))
    all_slices = np.arange(traced.min(), traced.max() + 1)
    centre_stack = np.stack([outlines[z].center_mm for z in traced])
    cord_stack = _consistent_along_cord(
        traced, centre_stack, np.stack([outlines[z].cord_radius_mm for z in traced]), spacing[2]
    )
    sac_stack = _consistent_along_cord(
        traced, centre_stack, np.stack([outlines[z].sac_radius_mm for z in traced]), spacing[2]
    )
    sac_stack = np.maximum(sac_stack, cord_stack)
    for row, z in enumerate(traced):
        outlines[int(z)] = replace(
            outlines[int(z)], cord_radius_mm=cord_stack[row], sac_radius_mm=sac_stack[row]
        )
    angles = np.linspace(0.0, 2 * np.pi, N_RAYS, endpoint=False)
    sections: list[CordCrossSection] = []
    crop_shape = (crop.shape[0], crop.shape[1])
    for z in all_slices:
        if z in outlines:
            outline = outlines[int(z)]
            centre, cord_r, sac_r = outline.center_mm, outline.cord_radius_mm, outline.sac_radius_mm
            interpolated = False
        else:
            centre = np.array([np.interp(z, traced, centre_stack[:, i]) for i in range(2)])
            cord_r = np.array([np.interp(z, traced, cord_stack[:, a]) for a in range(N_RAYS)])
            sac_r = np.array([np.interp(z, traced, sac_stack[:, a]) for a in range(N_RAYS)])
            interpolated = True
        cord_slice = rasterise(crop_shape, spacing[:2], centre, angles, cord_r)
        sac_slice = rasterise(crop_shape, spacing[:2], centre, angles, sac_r) & ~cord_slice
        cord_view[lo[0] : hi[0], lo[1] : hi[1], z] = cord_slice
        sac_view[lo[0] : hi[0], lo[1] : hi[1], z] = sac_slice
        sections.append(
            _cross_section(grid, int(z), centre + crop_offset_mm, angles, cord_r, sac_r, interpolated)
        )

    cord_level = float(np.median([o.cord_level for o in outlines.values()]))
    csf_level = float(np.median([o.csf_level for o in outlines.values()]))
    too_bright = model.max_csf_level is not None and csf_level > model.max_csf_level
    too_dim = model.min_contrast_step is not None and csf_level - cord_level < model.min_contrast_step
    if mode is Contrast.CT_MYELOGRAM and (too_dim or too_bright):
        raise AnalysisError(
            f"no contrast in the thecal sac of {description}: CSF {csf_level:.0f} HU vs cord "
            f"{cord_level:.0f} HU (contrast-filled CSF is several hundred HU)"
        )
    return CordSegmentation(
        cord_mask=grid.to_input(cord_view),
        csf_mask=grid.to_input(sac_view),
        centerline_lps_mm=np.stack([s.center_lps_mm for s in sections]),
        cross_sections=tuple(sections),
        affine_lps=np.asarray(volume.affine_lps, dtype=np.float64),
        contrast=mode.value,
        cord_level=cord_level,
        csf_level=csf_level,
        contrast_source=contrast_source,
        weak_rings=weak_rings,
    )


def _consistent_along_cord(
    slices: np.ndarray, centres_mm: np.ndarray, radii_mm: np.ndarray, slice_spacing_mm: float
) -> np.ndarray:
    """Replace boundary points that jump away from their neighbours along the cord.

    The pia and dura move smoothly from slice to slice; a single slice whose edge on one ray leaps
    outwards (a nerve root, a flow artefact in the CSF, fat next to the sac) is an outlier. Each boundary
    point is compared with the median of the same ray's points over about ±2.5 mm along the cord (at
    least one slice each side); points more than 1 mm or 15 % from it are moved onto it.
    """
    if slices.size < 3:
        return radii_mm
    half = max(1, round(2.5 / slice_spacing_mm))
    angles = np.linspace(0.0, 2 * np.pi, radii_mm.shape[1], endpoint=False)
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    points = centres_mm[:, None, :] + radii_mm[:, :, None] * directions[None, :, :]
    # Median over neighbouring *traced* slices (rows), limited to the slice window.
    size = 2 * half + 1
    median_points = np.stack(
        [ndimage.median_filter(points[:, :, i], size=(size, 1), mode="nearest") for i in range(2)], axis=2
    )
    median_radii = np.einsum("zai,ai->za", median_points - centres_mm[:, None, :], directions)
    deviation = np.abs(radii_mm - median_radii)
    outlier = deviation > np.maximum(1.0, 0.15 * median_radii)
    return np.where(outlier, np.maximum(median_radii, 0.0), radii_mm)


def _cross_section(
    grid: AxialGrid,
    z: int,
    centre_mm: np.ndarray,
    angles: np.ndarray,
    cord_radius_mm: np.ndarray,
    sac_radius_mm: np.ndarray,
    interpolated: bool,
) -> CordCrossSection:
    spacing = grid.spacing_mm
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)

    def to_lps(points_mm: np.ndarray) -> np.ndarray:
        ijk = np.column_stack([points_mm / spacing[:2], np.full(len(points_mm), float(z))])
        return grid.index_to_lps(ijk)

    cord_points = centre_mm + cord_radius_mm[:, None] * directions
    sac_points = centre_mm + sac_radius_mm[:, None] * directions
    x, y = cord_points[:, 0], cord_points[:, 1]
    cross = x * np.roll(y, -1) - np.roll(x, -1) * y
    area = cross.sum() / 2
    if abs(area) > 1e-9:
        centroid = np.array(
            [
                ((x + np.roll(x, -1)) * cross).sum() / (6 * area),
                ((y + np.roll(y, -1)) * cross).sum() / (6 * area),
            ]
        )
    else:
        centroid = centre_mm
    return CordCrossSection(
        slice_index=z,
        center_lps_mm=to_lps(centroid[None, :])[0],
        area_mm2=float(abs(area)),
        cord_outline_lps_mm=to_lps(cord_points),
        sac_outline_lps_mm=to_lps(sac_points),
        interpolated=interpolated,
        ray_origin_lps_mm=to_lps(np.asarray(centre_mm)[None, :])[0],
    )
