"""The lesion's share of the cord cross-section: one definition for a given mask and a detected lesion.

Why one definition: the published threshold (pain relief went with lesions covering >= 6.2 % of the
cord on DTI, Berger et al., n = 15) is a share of *area*, and a lesion 3 mm across on a 0.8 mm grid
lives to a large part in partial-volume voxels. Counting ROI voxels gives a number that depends on how
the ROI was drawn (a conservative core or a generous outline), so a mask and a detection of the same
lesion disagreed (5.8 % against 9.6 % on the sample, truth 8.9 %). Here the ROI only says *which*
lesion is meant; the area comes from the signals the same way for both.

Method
------
1. Core: the cord-interior voxels whose MD lies at least the detection threshold below their mirror
   voxel's (the candidates of :func:`pipeline.dti.lesion.detect_lesion`, step 4), in the 3-D connected
   regions that touch the ROI (dilated by one pixel in-plane). A ROI that touches no such region is its
   own core. The core fixes the lesion's side and where to look only: its slices and their neighbours
   (a lesion can reach a slice where no voxel passes the MD threshold).
2. Midline for the share: centroid and axis from the moments of a partial-volume cord outline read
   with the lesion's contrast projected out (a lesion at the pia otherwise reads as CSF and shifts it).
   Where the cord is too round for its moments to give an axis (``MIN_ELONGATION`` of
   :mod:`pipeline.dti.homolog`) on a lesion slice, the axis is turned to where the cord's signal is
   most symmetric outside the lesion's footprint, compared on every slice with cord (on the phantom the
   search moved an elongated cord's exact axis by 1-2° and turned the share by up to 0.3 points; the
   lesion's slices alone left a round cord's axis 35° off on draw 224, 3.3 points; now 0.4°).
3. Signals add within a voxel, and the lesion replaces healthy tissue, so a voxel holding a lesion
   fraction f differs from its mirror image (read by bilinear interpolation) by f times the pure lesion
   contrast (lesion minus healthy cord, all volumes). That contrast is the mean difference of the core's
   most lesion-like third (picked on half of the volumes, read on the other half). The fraction is read
   with the CSF-against-cord contrast projected out: an interpolated mirror image rounds off the cord's
   convex edge and holds a little more CSF than the voxel, which otherwise read as lesion (+0.5 to +1.4
   points on the worst draws of ``benchmarks/dti_share.py``).
4. Share = 100 · Σ f over the voxels within ``REACH_PIXELS`` of the core (in-plane, the cord and one
   pixel around it) / the cord's partial-volume area, on the slices whose summed f stands out of the
   noise (:func:`_lesion_slices`). f is not clipped: noise
   then averages out in the sum instead of adding up.

Without MD contrast (``MD_lesion >= MD_homolog``) the fractions are undefined; the share is then the
ROI's voxel count over the cord's on its slices, and ``method`` says so.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.dti.homolog import (
    MIN_ELONGATION,
    CordMidline,
    cord_fraction_from_b0,
    cord_interior,
    cord_midline,
    mirror_mask,
)
from pipeline.dti.lesion import md_asymmetry_percent

REACH_PIXELS = 2
"""In-plane reach around the core in which partial-volume lesion is counted (a lesion edge is blurred
over about one voxel on each side; two keep the whole edge without adding much noise)."""

GROW_FRACTION = 0.25
"""Voxels reading at least this lesion fraction and connected to the core belong to the lesion's region."""

SLICE_SIGNIFICANCE = 3.0
"""A slice belongs to the lesion when its summed lesion fraction is this many noise deviations above 0."""

MIN_SLICE_LESION_VOXELS = 0.5
"""...and at least half a voxel's worth: below that a reading cannot be told from the mirror's
interpolation error at the cord's edge, which the noise spread does not measure (it is the whole reading
of a lesion-free slice in a noise-free phantom, 0.08 voxel on draw 49, whose cord area then counted)."""

MIN_CSF_FREE_CONTRAST = 0.5
"""Share of the lesion contrast that must remain once CSF's is projected out (see :func:`_reader`); on the
phantom 0.90 remains (the lesion's restricted diffusion and CSF's free water differ in opposite ways)."""

PURE_FRACTION = 0.95
PURE_ITERATIONS = 3
MIN_PURE_VOXELS = 4

SYMMETRY_SEARCH_DEG = 45.0
"""The midline is searched this far either side of the cord outline's left-right axis."""

SYMMETRY_SEARCH_STEPS = (
    (1.0, SYMMETRY_SEARCH_DEG, 0.0, 0.0),
    (0.1, 1.0, 0.05, 0.5),
    (0.1, 0.5, 0.02, 0.1),
)
"""Search of the symmetric midline: (angle step, angle span, shift step, shift span), degrees and mm."""

SYMMETRY_SMOOTHING_PIXELS = 2.0
"""In-plane Gaussian σ applied before the symmetry search (see :func:`_symmetry_midline`). On a round
cord the grey matter's butterfly, a few pixels across, is the only cue: at σ = 1 pixel the noise still
picked the axis (draw 49 of ``benchmarks/dti_share.py``, 12° off), at 2 pixels it is 1.2° off."""

_IN_PLANE = np.zeros((3, 3, 3), dtype=bool)
_IN_PLANE[:, :, 1] = ndimage.generate_binary_structure(2, 1)
_CONNECTIVITY_3D = np.ones((3, 3, 3), dtype=bool)

DEFINITION = (
    "lesion area / cord area on the slices the lesion occupies, partial volume included: every voxel within "
    "2 pixels of the lesion's reduced-MD core counts with its lesion fraction f, read from its signals (all "
    "volumes) minus those of its mirror image across the cord midline, in units of the pure lesion contrast "
    "(the same difference in the core's most lesion-like third), blind to differences in CSF content (the "
    "CSF-against-cord signal is projected out); the cord area is its partial-volume area. "
    "The core is the set of cord-interior voxels whose MD is at least the detection threshold below their "
    "mirror voxel, connected to the lesion ROI. The same computation for a given mask and for a detected lesion."
)


@dataclass(frozen=True)
class LesionShare:
    """The lesion's share of the cord cross-section and what it was computed from.

    Attributes
    ----------
    percent : float
    method : str
        ``"signal_partial_volume"`` (the definition) or ``"roi_voxels"`` (no MD contrast, see the module).
    core_voxels : int
    md_lesion_mm2_s, md_homolog_mm2_s : float
    """

    percent: float
    method: str
    core_voxels: int
    md_lesion_mm2_s: float
    md_homolog_mm2_s: float


def _roi_voxel_share(roi: np.ndarray, cord: np.ndarray) -> float:
    slices = roi.any(axis=(0, 1))
    area = float(cord[:, :, slices].sum())
    return 0.0 if area == 0 else 100.0 * float((roi & cord).sum()) / area


def _mirror_signal(signal: np.ndarray, ijk: np.ndarray, midline: CordMidline) -> np.ndarray:
    """Signals ``(M, N)`` at the mirror images of voxels ``ijk`` across the cord midline (bilinear)."""
    coords = midline.mirror_indices(ijk.astype(np.float64)).T
    return np.stack(
        [
            ndimage.map_coordinates(signal[..., n], coords, order=1, mode="nearest")
            for n in range(signal.shape[-1])
        ],
        axis=-1,
    )


def _csf_contrast(data: np.ndarray, cord: np.ndarray) -> np.ndarray | None:
    """Signal of CSF minus cord (all volumes): the ring 2-3 pixels outside the cord against its interior."""
    ring = ndimage.binary_dilation(cord, _IN_PLANE, iterations=3) & ~ndimage.binary_dilation(
        cord, _IN_PLANE, iterations=2
    )
    interior = cord_interior(cord)
    if not (ring.any() and interior.any()):
        return None
    return np.asarray(np.median(data[ring], axis=0) - np.median(data[interior], axis=0))


def _reader(contrast: np.ndarray, csf: np.ndarray | None) -> np.ndarray:
    """Weights ``w`` (over volumes) that read a difference's lesion fraction as ``difference @ w``.

    ``w @ contrast = 1`` and ``w @ csf = 0``: a voxel and its mirror image can hold different amounts of
    CSF (the mirror image is interpolated between pixels, and interpolation rounds off the cord's convex
    edge, so it reads a little more CSF than a voxel at the same place would), and such a difference has
    CSF's signature, not the lesion's. Without a CSF contrast, or when the lesion's contrast is so like
    CSF's that less than ``MIN_CSF_FREE_CONTRAST`` of it would be left (the noise of the reading would
    more than double), the reading is the plain projection.
    """
    along = contrast
    if csf is not None and float(csf @ csf) > 0:
        free = contrast - (contrast @ csf) / float(csf @ csf) * csf
        if float(np.linalg.norm(free)) >= MIN_CSF_FREE_CONTRAST * float(np.linalg.norm(contrast)):
            along = free
    scale = float(along @ contrast)
    return along / scale if scale > 0 else np.zeros_like(contrast)


def _lesion_blind_midline(
    data: np.ndarray,
    cord: np.ndarray,
    core: np.ndarray,
    homolog: np.ndarray,
    affine_lps: np.ndarray,
    midline: CordMidline,
    csf_contrast: np.ndarray | None,
) -> tuple[CordMidline, np.ndarray]:
    """The cord midline again, from a partial-volume outline the lesion does not shift; and that outline.

    The outline's partial volume is read from the signal's CSF-against-cord contrast with the lesion's
    own contrast projected out: a lesion reaching the pia (hyperintense on b0) otherwise reads as CSF
    there and tilts the moments by a few degrees on its slices.
    """
    lesion_contrast = data[core].mean(axis=0) - data[homolog].mean(axis=0)
    if csf_contrast is None:
        return midline, cord.astype(np.float64)
    unit = lesion_contrast / max(float(np.linalg.norm(lesion_contrast)), 1e-12)
    weights = csf_contrast - (csf_contrast @ unit) * unit
    fraction = cord_fraction_from_b0(data @ weights, cord)
    if fraction is None:
        return midline, cord.astype(np.float64)
    return cord_midline(cord, affine_lps, cord_fraction=fraction), fraction


def _pure_lesion_contrast(core: np.ndarray, candidates: np.ndarray, csf: np.ndarray | None) -> np.ndarray:
    """Signal of pure lesion minus healthy cord, from the core's voxel-minus-mirror differences ``(M, N)``.

    Pure lesion is what the core voxels that read as wholly lesion hold: starting from the core's most
    lesion-like third, the core voxels whose lesion fraction reads at least ``PURE_FRACTION`` are
    averaged, and again with the contrast they give (core only: at the cord's edge a voxel with less
    CSF than its mirror image can read as lesion without being any). Picking voxels and averaging them on the same noisy signals
    would favour voxels whose noise happens to look like lesion, so the volumes are split in two: the
    voxels are picked on one half and the contrast is read on the other, and the other way round.
    """
    direction = core.mean(axis=0)
    contrast = np.empty_like(direction)
    halves = np.arange(core.shape[1]) % 2 == 0
    keep = max(1, core.shape[0] // 3)
    for pick, read in ((halves, ~halves), (~halves, halves)):
        chosen = np.argsort(core[:, pick] @ direction[pick])[-keep:]
        contrast[read] = core[chosen][:, read].mean(axis=0)
    for _ in range(PURE_ITERATIONS):
        previous = contrast.copy()
        for pick, read in ((halves, ~halves), (~halves, halves)):
            fraction = candidates[:, pick] @ _reader(previous[pick], None if csf is None else csf[pick])
            chosen = fraction >= PURE_FRACTION
            chosen[np.argsort(fraction)[-MIN_PURE_VOXELS:]] = True
            if chosen.any():
                contrast[read] = candidates[chosen][:, read].mean(axis=0)
    return contrast


def _turned(midline: CordMidline, degrees: float, shift_mm: float = 0.0) -> CordMidline:
    """The midline turned by ``degrees`` about each slice's centroid, then moved ``shift_mm`` to the left."""
    angle = np.deg2rad(degrees)
    c, s = np.cos(angle), np.sin(angle)
    axis = midline.left_axis @ np.array([[c, s], [-s, c]])
    return CordMidline(midline.centroid_mm + shift_mm * axis, axis, midline.spacing_mm, midline.elongation)


def _symmetry_midline(
    data: np.ndarray,
    cord: np.ndarray,
    core: np.ndarray,
    slices: np.ndarray,
    midline: CordMidline,
    compared: np.ndarray | None = None,
) -> CordMidline:
    """The midline turned and moved sideways to where the cord's signal is most symmetric.

    The outline's moments fix the axis only as well as the cord is elongated (a round cord has none);
    the grey matter's butterfly and the cord's edge fix it on any cord. Pairs of points mirrored across
    a candidate axis are compared, both read by bilinear interpolation (comparing a voxel with an
    interpolated mirror would favour axes along the pixel grid, where interpolation blurs least). The
    lesion's neighbourhood is left out, and the search stays within ``SYMMETRY_SEARCH_DEG`` of the
    outline's axis (the cord's front-back mirror can look symmetric too). The axis is made common to
    ``slices`` and the turn is the same on every slice; the symmetry is compared on ``compared`` (by
    default ``slices``): the grey matter's weak butterfly needs many slices to stand out of the noise.
    """
    lesion_zone = ndimage.binary_dilation(core, _IN_PLANE, iterations=REACH_PIXELS + 1)
    near_cord = ndimage.binary_dilation(cord, _IN_PLANE)
    slices = np.flatnonzero(slices)
    if slices.size == 0:
        return midline
    compared = slices if compared is None else np.flatnonzero(compared)
    step = float(midline.spacing_mm.min())
    reach = 0.5 * float(np.sqrt(cord[:, :, compared].sum(axis=(0, 1)).max() * np.prod(midline.spacing_mm)))
    reach = 2.0 * reach + 2.0 * step
    across = np.arange(step / 2.0, reach, step)
    along = np.arange(-reach, reach + step / 2.0, step)
    grid_u, grid_v = (g.ravel() for g in np.meshgrid(across, along, indexing="ij"))
    upper = np.array(core.shape) - 1
    # Smoothed first, so that what interpolation blurs is small beside what both sides share.
    smooth = ndimage.gaussian_filter(data, (SYMMETRY_SMOOTHING_PIXELS, SYMMETRY_SMOOTHING_PIXELS, 0.0, 0.0))

    def points(turned: CordMidline, sign: float) -> np.ndarray:
        rows = []
        for k in compared:
            axis = turned.left_axis[k]
            normal = np.array([-axis[1], axis[0]])
            xy = turned.centroid_mm[k] + sign * grid_u[:, None] * axis + grid_v[:, None] * normal
            rows.append(np.column_stack([xy / turned.spacing_mm, np.full(len(xy), k)]))
        return np.concatenate(rows)

    def sample(ijk: np.ndarray) -> np.ndarray:
        coords = ijk.T
        return np.stack(
            [
                ndimage.map_coordinates(smooth[..., n], coords, order=1, mode="nearest")
                for n in range(data.shape[-1])
            ],
            axis=-1,
        )

    def usable(ijk: np.ndarray) -> np.ndarray:
        index = tuple(np.clip(np.rint(ijk).astype(int), 0, upper).T)
        return near_cord[index] & ~lesion_zone[index]

    def mismatch(degrees: float, shift_mm: float) -> float:
        turned = _turned(midline, degrees, shift_mm)
        left, right = points(turned, 1.0), points(turned, -1.0)
        kept = usable(left) & usable(right)
        if not kept.any():
            return float("inf")
        return float(np.mean((sample(left[kept]) - sample(right[kept])) ** 2))

    # One axis for the lesion's slices (the cord does not twist over a few millimetres).
    axes = midline.left_axis[slices]
    common = axes.mean(axis=0) / max(float(np.linalg.norm(axes.mean(axis=0))), 1e-12)
    axis = midline.left_axis.copy()
    axis[slices] = common
    midline = CordMidline(midline.centroid_mm, axis, midline.spacing_mm, midline.elongation)
    angle, shift = 0.0, 0.0
    for degrees_step, degrees_span, shift_step, shift_span in SYMMETRY_SEARCH_STEPS:
        angles = angle + np.arange(-degrees_span, degrees_span + degrees_step / 2, degrees_step)
        angle = float(angles[int(np.argmin([mismatch(a, shift) for a in angles]))])
        if shift_span > 0:
            shifts = shift + np.arange(-shift_span, shift_span + shift_step / 2, shift_step)
            shift = float(shifts[int(np.argmin([mismatch(angle, d) for d in shifts]))])
    return _turned(midline, angle, shift)


def _lesion_slices(fraction_map: np.ndarray, region: np.ndarray, near_cord: np.ndarray) -> np.ndarray:
    """The slices whose lesion reading stands out of the noise (a noisy voxel joined to the core
    through a neighbouring slice would otherwise add that slice's whole cord to the area).

    A slice is kept when its region's summed lesion fraction is at least ``SLICE_SIGNIFICANCE`` times
    the noise of such a sum (robust spread of the fractions read in the cord outside the region) and at
    least ``MIN_SLICE_LESION_VOXELS``; the slice with the largest sum always is.
    """
    outside = fraction_map[near_cord & ~region]
    spread = 1.4826 * float(np.median(np.abs(outside - np.median(outside)))) if outside.size else 0.0
    sums = np.where(region, fraction_map, 0.0).sum(axis=(0, 1))
    counts = region.sum(axis=(0, 1))
    floor = np.maximum(SLICE_SIGNIFICANCE * spread * np.sqrt(counts), MIN_SLICE_LESION_VOXELS)
    keep = (counts > 0) & (sums >= floor)
    keep[int(np.argmax(np.where(counts > 0, sums, -np.inf)))] = True
    return keep


def lesion_cord_share(
    signal: np.ndarray,
    md_mm2_s: np.ndarray,
    roi_mask: np.ndarray,
    cord_mask: np.ndarray,
    midline: CordMidline,
    affine_lps: np.ndarray,
    *,
    threshold_percent: float,
) -> LesionShare:
    """Share of the cord cross-section the lesion marked by ``roi_mask`` covers (module docstring).

    ``signal`` is the 4-D diffusion series the tensors were fitted on (volumes last).
    """
    data = np.asarray(signal, dtype=np.float64)
    md = np.asarray(md_mm2_s, dtype=np.float64)
    roi = np.asarray(roi_mask, dtype=bool)
    cord = np.asarray(cord_mask, dtype=bool)
    asymmetry = md_asymmetry_percent(md, cord, midline)
    candidates = np.nan_to_num(asymmetry, nan=0.0) <= threshold_percent
    labels, _ = ndimage.label(candidates, _CONNECTIVITY_3D)
    touched = np.unique(labels[ndimage.binary_dilation(roi, _IN_PLANE) & (labels > 0)])
    core = np.isin(labels, touched) if touched.size else roi & cord
    if not core.any():
        core = roi
    interior = cord_interior(cord)
    homolog = mirror_mask(core, interior, midline) & ~core
    if not homolog.any():
        homolog = interior & ~core
    md_homolog = float(md[homolog].mean()) if homolog.any() else float("nan")
    core_asymmetry = asymmetry[core]
    finite = np.isfinite(core_asymmetry)
    if finite.any():
        deep = core.copy()
        deep[core] = finite & (core_asymmetry <= np.median(core_asymmetry[finite]))
    else:
        deep = core
    md_lesion = float(md[deep].mean())
    with_cord = np.isfinite(midline.centroid_mm[:, 0])
    slices = core.any(axis=(0, 1)) & with_cord
    core &= slices[None, None, :]
    deep &= slices[None, None, :]
    if not (md_homolog > md_lesion and deep.any()):
        return LesionShare(_roi_voxel_share(roi, cord), "roi_voxels", int(core.sum()), md_lesion, md_homolog)
    # The lesion can reach a neighbouring slice on which no voxel passes the MD threshold (a partial
    # volume along the slice, or noise): those slices are read too, around the core's footprint, and
    # kept when their reading stands out of the noise (:func:`_lesion_slices`).
    slices = ndimage.binary_dilation(slices) & with_cord
    footprint = core.any(axis=2)[:, :, None] & slices[None, None, :]
    csf = _csf_contrast(data, cord)
    midline, cord_fraction = _lesion_blind_midline(data, cord, core, homolog, affine_lps, midline, csf)
    if not np.all(midline.elongation[slices] >= MIN_ELONGATION):
        every_slice = core.any(axis=2)[:, :, None] & with_cord[None, None, :]
        midline = _symmetry_midline(data, cord, every_slice, slices, midline, with_cord)
    near_cord = ndimage.binary_dilation(cord, _IN_PLANE) & slices[None, None, :]
    ijk = np.argwhere(near_cord)
    difference = data[tuple(ijk.T)] - _mirror_signal(data, ijk, midline)
    close = ndimage.binary_dilation(footprint, _IN_PLANE, iterations=REACH_PIXELS)
    contrast = _pure_lesion_contrast(
        difference[core[tuple(ijk.T)]], difference[(close & interior)[tuple(ijk.T)]], csf
    )
    reader = _reader(contrast, csf)
    if not float(reader @ reader) > 0:
        return LesionShare(_roi_voxel_share(roi, cord), "roi_voxels", int(core.sum()), md_lesion, md_homolog)
    fraction_map = np.zeros(cord.shape)
    fraction_map[tuple(ijk.T)] = difference @ reader
    # The lesion as its signals show it: voxels reading at least GROW_FRACTION lesion, connected to the
    # core on its slices (a noisy core can be smaller than the lesion), then one pixel more for its
    # partial-volume rim.
    labels, _ = ndimage.label(((fraction_map >= GROW_FRACTION) & near_cord) | core, _CONNECTIVITY_3D)
    grown = np.isin(labels, np.unique(labels[core]))
    region = (ndimage.binary_dilation(grown, _IN_PLANE) | close) & near_cord | core
    slices = _lesion_slices(fraction_map, region, near_cord)
    region &= slices[None, None, :]
    area = float(cord_fraction[:, :, slices].sum())
    percent = 0.0 if area == 0 else 100.0 * float(fraction_map[region].sum()) / area
    return LesionShare(percent, "signal_partial_volume", int(core.sum()), md_lesion, md_homolog)
