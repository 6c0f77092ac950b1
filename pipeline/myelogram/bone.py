"""C1 and C2 on a CT myelogram: bone by Hounsfield units, then identified by their anatomy.

Bone is everything clearly denser than the image's own soft tissue (by half the step from muscle to
cancellous bone, ``seeds/myelogram.yaml``), plus what it encloses: a level set relative to the image, not a
fixed cortex threshold, so thin laminae blurred by coarse voxels (their cortex far below its true
~1000 HU) keep their bone. The contrast-filled CSF is as dense as bone (200-1000 HU vs ~300 HU cancellous,
domain-facts §6), so the CSF and cord found by :func:`pipeline.myelogram.cord.segment_cord` are excluded
first.

Identification works on the bone split into pieces at its joints (erosion of about 1 mm separates bones
that only touch across a joint space), measured in the cord's own coordinates (left, posterior, along the
cord; posterior in the bone's plane of mirror symmetry through the cord), so a rotated head changes
nothing:

* **C2** is the vertebra whose anterior midline column (body and dens) rises well above its posterior
  midline bone (laminae, spinous process): the dens projects 15-20 mm above the C2 laminae;
* **C1** is a ring without a body: midline bone both anterior to the dens (anterior arch) and posterior to
  the cord (posterior arch), at the height of the dens;
* everything else (occiput, C3 and below) is "other bone".

Joint spaces thinner than a slice leave bones touching: a piece whose posterior (else anterior) midline
bone has a gap along the cord holds two bones and is cut there; C1 then sheds the occipital condyles above
the narrowest level of each lateral mass, C2 sheds C3 below its facet joints next to the C2-C3 disc, and
lateral fragments broken off by the erosion rejoin the vertebra they touch at their level.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from pipeline.errors import AnalysisError
from pipeline.myelogram._grid import AxialGrid
from pipeline.myelogram._morphology import fill_holes_in_planes, in_plane_disc
from pipeline.myelogram.cord import CordSegmentation
from pipeline.myelogram.frame import centerline_direction, cord_posterior, turned_posterior
from pipeline.seeds import Seeds
from pipeline.volume import Volume

# Soft tissue is measured on voxels in this window (HU): muscle, fat, vessels and discs, not air or bone.
SOFT_TISSUE_WINDOW_HU = (-200.0, 200.0)
# Midline corridors (cord frame, mm): anterior column (dens/body, C1 anterior arch) and posterior elements.
MIDLINE_HALF_WIDTH_MM = 5.0
ANTERIOR_V_MM = (-30.0, -5.0)
POSTERIOR_V_MM = (5.0, 40.0)
# The dens rises at least this far above the C2 laminae (15-20 mm in adults; any C3-C7 body is level
# with its lamina).
MIN_DENS_RISE_MM = 6.0
LATERAL_FORAMEN_MM = 15.0
# Transverse foramina (_foramina): their wall is closed in-plane by a disc of this radius (a 2 mm gap in
# a 2 mm wall blurred open closes); smaller enclosed holes are cancellous pockets (a V3 of 4.5 mm in a
# canal 4 mm tall is about 60 mm3).
FORAMEN_GAP_CLOSING_MM = 1.5
MIN_FORAMEN_MM3 = 15.0
# In-plane half-width of the box analysed around the cord (C1 transverse processes reach ~35 mm).
ANALYSIS_HALF_WIDTH_MM = 45.0
# Mirror-symmetry search for the posterior direction (_symmetry_posterior): bone within SYMMETRY_RADIUS_MM
# of the cord, at most SYMMETRY_POINTS voxels of it; planes through the cord turned in coarse then fine
# steps (degrees) and shifted sideways up to SYMMETRY_SHIFT_MM (a cord displaced in the canal).
SYMMETRY_RADIUS_MM = 35.0
SYMMETRY_POINTS = 5_000
SYMMETRY_STEPS_DEG = (3.0, 0.5)
SYMMETRY_SHIFT_MM = 6.0
# Bone more than this far above/below the lateral atlanto-axial joint level seeds C1/C2 when they touch.
JOINT_MARGIN_MM = 2.0
# The bone count per level that locates that joint is smoothed over about this length (mm).
JOINT_SMOOTHING_MM = 1.5
# Surface voxels below their half-maximum edge are peeled off to this depth (mm), one voxel layer at a time
# (the partial-volume rim of a blurred edge is about that wide). Peeling deeper (1 mm) raised C1/C2 Dice
# on fine pixels but broke thin arches, and the thinner bone mask let the arteries take bone rim.
PEEL_MM = 0.6
# The dens rises about 12-15 mm above the C1-C2 interlaminar gap; a taller anterior column above a gap is
# the upper vertebra's body (C2 above C3).
MAX_DENS_ABOVE_GAP_MM = 22.0
# Two stacked bodies part level with their interlaminar gap (the C2-C3 disc within the C2-C3 gap, the
# basion beside the occiput-C1 gap): a break in the anterior column further below a posterior gap than this
# belongs to the next joint down (a tilt of the bodies against the cord of up to ~17 degrees over the
# ~26 mm from laminae to bodies); above it, up to BODY_GAP_ABOVE_MM.
BODY_GAP_BELOW_MM = 8.0
BODY_GAP_ABOVE_MM = 5.0
# Posterior elements rejoin a body only if they reach this far (mm) below the body's top.
MIN_BODY_OVERLAP_MM = 3.0
# Pieces are cut at joints at most this many times over (occiput-C1-C2 merged needs two rounds).
MAX_JOINT_CUTS = 4


@dataclass(frozen=True)
class Vertebrae:
    """C1, C2 and other bone, with the landmarks used downstream (LPS mm).

    Attributes
    ----------
    c1_mask, c2_mask, other_bone_mask : ndarray of bool
        On the CT grid.
    dens_tip_lps_mm : (3,) ndarray
        Highest point of C2's anterior midline column.
    dens_center_lps_mm : (3,) ndarray
        Centroid of the dens at the height of the C1 anterior arch.
    c1_arch_inferior_lps_mm, c2_lamina_superior_lps_mm : (3,) ndarray
        Lowest point of the C1 posterior arch and highest point of the C2 laminae/spinous process, both
        in the posterior midline; the C1-C2 interlaminar space lies between them.
    c1_arch_superior_lps_mm : (3,) ndarray
        Top of the C1 posterior arch in the midline (the vertebral-artery groove runs over it laterally).
    foramina_lps_mm : dict
        ``{"left": {"C1": point | None, "C2": point | None}, "right": {...}}``: transverse-foramen centres.
    """

    c1_mask: np.ndarray
    c2_mask: np.ndarray
    other_bone_mask: np.ndarray
    dens_tip_lps_mm: np.ndarray
    dens_center_lps_mm: np.ndarray
    c1_arch_inferior_lps_mm: np.ndarray
    c1_arch_superior_lps_mm: np.ndarray
    c2_lamina_superior_lps_mm: np.ndarray
    foramina_lps_mm: dict[str, dict[str, np.ndarray | None]]

    @property
    def bone_mask(self) -> np.ndarray:
        return self.c1_mask | self.c2_mask | self.other_bone_mask


class VertebraeNotSeparated(AnalysisError):
    """C1-C2 is in the field of view but C1 and C2 could not be told apart or found.

    The myelogram stage goes on without vertebrae (cord, CSF, all bone as "other bone") and records this
    message as a warning; planning, which needs C1 and C2, then stops naming it.

    Attributes
    ----------
    bone_mask : ndarray of bool
        All bone found, on the input grid.
    """

    def __init__(self, message: str, bone_mask: np.ndarray) -> None:
        super().__init__(message)
        self.bone_mask = bone_mask


def _enclosed_in_planes(mask: np.ndarray) -> np.ndarray:
    """Voxels enclosed by ``mask`` within an axial, coronal or sagittal plane through them.

    Cancellous bone is surrounded by cortex, but a thin bifid process or a notch can leave the shell open
    in one orientation; it is rarely open in all three. The spinal canal and the foramina are open along
    the cord, so only the axial planes enclose them (their contents are excluded by intensity).
    """
    enclosed = fill_holes_in_planes(mask, axis=2)
    for axis in (0, 1):
        enclosed |= fill_holes_in_planes(mask, axis=axis)
    return enclosed


@dataclass(frozen=True)
class BoneLevels:
    """Levels (HU) of one CT: its soft tissue and the threshold above which a voxel is bone."""

    soft_tissue_hu: float
    bone_hu: float

    @classmethod
    def measure(cls, smooth_hu: np.ndarray, exclude: np.ndarray, seeds: Seeds) -> BoneLevels:
        """Soft tissue as the median of the soft-tissue window outside ``exclude``; bone above it by
        ``bone_level_fraction`` of the muscle-to-cancellous-bone step (``seeds/ct.yaml``)."""
        values = smooth_hu[~exclude][::7]
        window = values[(values > SOFT_TISSUE_WINDOW_HU[0]) & (values < SOFT_TISSUE_WINDOW_HU[1])]
        soft = float(np.median(window)) if window.size else seeds.number("ct.hu.muscle")
        step = seeds.number("ct.hu.cancellous_bone") - seeds.number("ct.hu.muscle")
        return cls(soft, soft + seeds.number("myelogram.ct.bone_level_fraction") * step)


def _smooth_hu(hu: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    return ndimage.gaussian_filter(hu, sigma=0.4 / spacing, mode="nearest")


def _bone_view(
    smooth: np.ndarray, soft: np.ndarray, spacing: np.ndarray, seeds: Seeds
) -> tuple[np.ndarray, BoneLevels]:
    """Bone on the view grid: dense voxels plus the less dense bone they enclose.

    The CSF and cord are excluded with a one-voxel in-plane margin, because the partial-volume rim of the
    contrast is as dense as bone; the canal inside the C1 ring is enclosed too, so enclosed voxels count
    only when they are themselves half-way to the bone level (epidural fat and veins are not).
    """
    in_plane = np.zeros((3, 3, 3), dtype=bool)
    in_plane[:, :, 1] = True
    near_soft = ndimage.binary_dilation(soft, structure=in_plane)
    levels = BoneLevels.measure(smooth, near_soft, seeds)
    dense = (smooth > levels.bone_hu) & ~near_soft
    enclosed = _enclosed_in_planes(dense)
    half_way = 0.5 * (levels.soft_tissue_hu + levels.bone_hu)
    bone = dense | (enclosed & (smooth > half_way) & ~near_soft)
    # Drop specks (noise, contrast outside the traced sac) smaller than ~15 mm³.
    labels, count = ndimage.label(bone)
    if count:
        sizes = np.bincount(labels.ravel())
        sizes[0] = 0
        keep = sizes * float(np.prod(spacing)) >= 15.0
        bone = keep[labels]
    return _peel_to_half_maximum(bone, smooth, levels, spacing, PEEL_MM), levels


def _peel_layers(depth_mm: float, spacing: np.ndarray) -> int:
    return max(1, int(depth_mm / float(min(spacing))))


def _peel_to_half_maximum(
    bone: np.ndarray,
    smooth: np.ndarray,
    levels: BoneLevels,
    spacing: np.ndarray,
    depth_mm: float,
) -> np.ndarray:
    """Move the bone surface out to its half-maximum edge.

    The bone level sits low (it must keep blurred thin laminae), so it takes in the partial-volume rim of
    voxels only a fraction bone. A surface voxel stays bone when it is at least half-way from soft tissue
    to the densest bone within ~1.5 mm (the edge of a blurred step lies half-way between its two sides,
    whatever the blur, so faint laminae keep their bone and dense cortex sheds its rim).
    """
    size = np.maximum(3, 2 * np.round(1.5 / spacing).astype(int) + 1)
    peak = ndimage.maximum_filter(np.where(bone, smooth, np.float32(levels.soft_tissue_hu)), size=tuple(size))
    half = levels.soft_tissue_hu + 0.5 * (peak - levels.soft_tissue_hu)
    for layer in range(_peel_layers(depth_mm, spacing)):
        # Layer k peels along the axes whose voxels are thin enough (thick slices shed one layer only).
        structure = np.zeros((3, 3, 3), dtype=bool)
        structure[1, 1, 1] = True
        for axis in np.nonzero(spacing * layer < depth_mm)[0]:
            line = [1, 1, 1]
            line[axis] = slice(None)  # type: ignore[call-overload]
            structure[tuple(line)] = True
        surface = bone & ~ndimage.binary_erosion(bone, structure=structure, border_value=1)
        drop = surface & (smooth < half)
        if not drop.any():
            break
        bone = bone & ~drop
    return bone


def _split_at_joints(bone: np.ndarray, spacing: np.ndarray) -> np.ndarray:
    """Label bone pieces, cutting thin contacts (joints touching through partial volume).

    One erosion step (about half a millimetre) breaks contacts narrower than two voxels; the eroded rim
    is then given back to the neighbouring piece by a few constrained dilations.
    """
    six = ndimage.generate_binary_structure(3, 1)
    cores = ndimage.binary_erosion(bone, structure=six)
    labels, count = ndimage.label(cores, structure=six)
    if count == 0:
        return labels
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    small = sizes * float(np.prod(spacing)) < 10.0
    labels[small[labels]] = 0
    for _ in range(3):
        grown = ndimage.grey_dilation(labels, footprint=six)
        labels = np.where(bone & (labels == 0), grown, labels)
    return labels


def segment_vertebrae(
    ct: Volume, cord: CordSegmentation, *, seeds: Seeds, description: str = "the CT"
) -> Vertebrae:
    """Find C1, C2 and the other bone on a CT myelogram whose cord and CSF are already segmented.

    ``seeds`` supplies the tissue levels (``seeds/ct.yaml``, ``seeds/myelogram.yaml``).

    Raises
    ------
    AnalysisError
        "C1-C2 not in the field of view" when no vertebra with a dens, or no C1 ring, is found.
    """
    full_grid = AxialGrid.from_volume(ct)
    spacing = full_grid.spacing_mm
    # C1 and C2 lie within ~40 mm of the cord (C1 transverse processes); only that box is analysed.
    lo, hi = _box_around_cord(full_grid, cord, ANALYSIS_HALF_WIDTH_MM)
    box = (slice(lo[0], hi[0]), slice(lo[1], hi[1]), slice(None))
    box_affine = full_grid.affine_lps.copy()
    box_affine[:3, 3] = full_grid.index_to_lps(np.array([lo[0], lo[1], 0], dtype=float))
    grid = AxialGrid.from_volume(Volume(full_grid.array[box], box_affine))
    smooth_full = _smooth_hu(np.asarray(full_grid.array, dtype=np.float32), spacing)
    soft = full_grid.from_input(cord.csf_mask | cord.cord_mask)[box]
    bone, levels = _bone_view(smooth_full[box], soft, spacing, seeds)
    if not bone.any():
        raise AnalysisError(f"C1-C2 not in the field of view of {description}: no bone found")
    pieces = _split_at_joints(bone, spacing)
    axes = _CordAxes.measure(cord, bone, grid)

    # Cord coordinates of the labelled bone voxels (every second voxel in-plane is plenty).
    sample = np.zeros(bone.shape, dtype=bool)
    sample[::2, ::2, :] = True
    index = np.argwhere((pieces > 0) & sample)
    lps = grid.index_to_lps(index)
    u, v, w = axes.coordinates(lps)
    label_of = pieces[tuple(index.T)]

    midline = np.abs(u) <= MIDLINE_HALF_WIDTH_MM
    anterior = midline & (v >= ANTERIOR_V_MM[0]) & (v <= ANTERIOR_V_MM[1])
    posterior = midline & (v >= POSTERIOR_V_MM[0]) & (v <= POSTERIOR_V_MM[1])

    def tops(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        ant_top = np.full(n + 1, -1e9)
        post_top = np.full(n + 1, -1e9)
        np.maximum.at(ant_top, label_of[anterior], w[anterior])
        np.maximum.at(post_top, label_of[posterior], w[posterior])
        return ant_top, post_top, (ant_top > -1e9) & (post_top > -1e9)

    n_labels = int(pieces.max())
    # A piece whose posterior midline bone has a gap holds two bones that touch at a joint (C1 resting on
    # C2, or the occipital condyles on the C1 lateral masses, without a visible joint space): cut it at
    # the joints. A piece may hold three (occiput, C1 and C2), so cut until no piece has a gap; posterior
    # elements left without their body (before or by a cut) rejoin the body at their level each round.
    cut_from: dict[int, int] = {}  # upper part of a cut -> the piece it was cut from
    for _ in range(MAX_JOINT_CUTS):
        _attach_posterior_elements(pieces, index, label_of, anterior, posterior, w, cut_from)
        label_of = pieces[tuple(index.T)]
        _, _, has_both = tops(n_labels)
        found = {
            int(label): _stack_gap(w[posterior & (label_of == label)], w[anterior & (label_of == label)])
            for label in np.nonzero(has_both)[0]
        }
        gaps = {label: gap for label, gap in found.items() if gap is not None}
        if not gaps:
            break
        for cut_label, (gap, in_front) in gaps.items():
            n_labels += 1
            _cut_atlas_from_axis(pieces, cut_label, n_labels, grid, axes, gap, spacing, in_front=in_front)
            cut_from[n_labels] = cut_label
        label_of = pieces[tuple(index.T)]
    _attach_posterior_elements(pieces, index, label_of, anterior, posterior, w, cut_from)
    label_of = pieces[tuple(index.T)]
    ant_top, post_top, has_both = tops(n_labels)
    # C2's body and dens make one tall anterior column; a C3-C7 body is short (a lone spinous process
    # joined to its body can also sit well below the body's top, so the rise alone is not enough).
    min_column_mm = seeds.number("myelogram.ct.min_c2_column_mm")
    column_mm = np.zeros(n_labels + 1)
    for candidate in np.nonzero(has_both)[0]:
        column_mm[candidate] = _longest_run_mm(w[anterior & (label_of == candidate)], float(spacing[2]))
    rise = np.where(has_both & (column_mm >= min_column_mm), ant_top - post_top, -np.inf)
    c2_label = int(np.argmax(rise))

    def all_bone() -> np.ndarray:
        view = smooth_full > levels.bone_hu
        view[box] = bone
        return full_grid.to_input(view)

    if rise[c2_label] < MIN_DENS_RISE_MM:
        longest_mm = _longest_run_mm(w[anterior], float(spacing[2]))
        if longest_mm >= min_column_mm:
            raise VertebraeNotSeparated(
                f"C1 and C2 not found in {description}: a {longest_mm:.0f} mm anterior midline bone column "
                f"(the C2 body and dens) is in view, but no vertebra with a dens rising above its laminae "
                f"could be separated; labels C1 and C2 are absent",
                all_bone(),
            )
        raise AnalysisError(
            f"C1-C2 not in the field of view of {description}: no C2 (a vertebra whose dens rises above "
            f"its laminae) was found, and no anterior bone column as tall as the C2 body and dens "
            f"(longest {longest_mm:.0f} mm)"
        )
    n_labels += 1
    dens_tip_w = float(w[anterior & (label_of == c2_label)].max())
    c2_height = seeds.numbers("myelogram.ct.c2_height_range_mm")
    _trim_below_axis(pieces, c2_label, n_labels, grid, axes, (dens_tip_w, c2_height), spacing)
    label_of = pieces[tuple(index.T)]
    c2_anterior = anterior & (label_of == c2_label)
    c2_posterior = posterior & (label_of == c2_label)
    _require_midline(
        "C2", "at the axis", {"dens": c2_anterior, "lamina": c2_posterior}, description, all_bone
    )
    dens_top_w = float(w[c2_anterior].max())
    lamina_top_w = float(w[c2_posterior].max())

    # C1: a ring (anterior and posterior midline bone) at the height of the dens, anterior to it.
    candidates = []
    for label in np.nonzero(has_both)[0]:
        if label == c2_label:
            continue
        ant_w = w[anterior & (label_of == label)]
        if ant_w.max() < lamina_top_w or ant_w.min() > dens_top_w:
            continue
        candidates.append((int((label_of == label).sum()), int(label)))
    if not candidates:
        raise VertebraeNotSeparated(
            f"C1 not found in {description}: C2 (its dens) is in view but no C1 ring around the dens could "
            f"be separated; labels C1 and C2 are absent",
            all_bone(),
        )
    c1_label = max(candidates)[1]
    c1_anterior = anterior & (label_of == c1_label)
    n_labels += 1
    _trim_above_atlas(pieces, c1_label, n_labels, grid, axes, float(w[c1_anterior].max()), spacing)
    label_of = pieces[tuple(index.T)]
    _adopt_fragments(pieces, (c1_label, c2_label), label_of, anterior | posterior, np.abs(u) >= 8.0, w)
    label_of = pieces[tuple(index.T)]
    c2_endplate_w = float(w[anterior & (label_of == c2_label)].min())
    _claim_inferior_facets(pieces, (c1_label, c2_label), label_of, w, c2_endplate_w, grid, axes, spacing)
    label_of = pieces[tuple(index.T)]
    c1_posterior = posterior & (label_of == c1_label)
    c1_anterior = anterior & (label_of == c1_label)
    parts = {"anterior arch": c1_anterior, "posterior arch": c1_posterior}
    _require_midline("C1", "from the occiput", parts, description, all_bone)

    def lowest(mask: np.ndarray) -> np.ndarray:
        return lps[mask][int(np.argmin(w[mask]))]

    def highest(mask: np.ndarray) -> np.ndarray:
        return lps[mask][int(np.argmax(w[mask]))]

    arch_w = w[c1_anterior]
    dens_band = c2_anterior & (w >= arch_w.min()) & (w <= arch_w.max())
    dens_center = lps[dens_band].mean(axis=0) if dens_band.any() else highest(c2_anterior)

    c1_view = np.zeros(full_grid.shape, dtype=bool)
    c2_view = np.zeros(full_grid.shape, dtype=bool)
    c1_view[box] = pieces == c1_label
    c2_view[box] = pieces == c2_label
    # Outside the analysed box, bone is only "other bone": by the same level.
    other_view = smooth_full > levels.bone_hu
    other_view[box] = bone
    other_view &= ~c1_view & ~c2_view

    foramina: dict[str, dict[str, np.ndarray | None]] = {
        "left": {"C1": None, "C2": None},
        "right": {"C1": None, "C2": None},
    }
    for (side, name), point in _foramina(bone, pieces, {"C1": c1_label, "C2": c2_label}, grid, axes).items():
        foramina[side][name] = point

    return Vertebrae(
        c1_mask=full_grid.to_input(c1_view),
        c2_mask=full_grid.to_input(c2_view),
        other_bone_mask=full_grid.to_input(other_view),
        dens_tip_lps_mm=highest(c2_anterior),
        dens_center_lps_mm=dens_center,
        c1_arch_inferior_lps_mm=lowest(c1_posterior),
        c1_arch_superior_lps_mm=highest(c1_posterior),
        c2_lamina_superior_lps_mm=highest(c2_posterior),
        foramina_lps_mm=foramina,
    )


def _require_midline(
    name: str,
    trimmed: str,
    parts: dict[str, np.ndarray],
    description: str,
    all_bone: Callable[[], np.ndarray],
) -> None:
    """Raise VertebraeNotSeparated when trimming left the vertebra without one of its midline ``parts``."""
    missing = [part for part, mask in parts.items() if not mask.any()]
    if missing:
        raise VertebraeNotSeparated(
            f"{name} not found in {description}: trimmed {trimmed}, the vertebra taken for {name} kept no "
            f"{' or '.join(missing)} in the midline; labels C1 and C2 are absent",
            all_bone(),
        )


def _box_around_cord(
    grid: AxialGrid, cord: CordSegmentation, half_width_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """In-plane index bounds (lo, hi) of the view within ``half_width_mm`` of the cord centerline."""
    index = grid.lps_to_index(cord.centerline_lps_mm)
    margin = half_width_mm / grid.spacing_mm[:2]
    lo = np.maximum(np.floor(index[:, :2].min(axis=0) - margin).astype(int), 0)
    hi = np.minimum(np.ceil(index[:, :2].max(axis=0) + margin).astype(int) + 1, np.asarray(grid.shape[:2]))
    return lo, hi


def _attach_posterior_elements(
    pieces: np.ndarray,
    index: np.ndarray,
    label_of: np.ndarray,
    anterior: np.ndarray,
    posterior: np.ndarray,
    w: np.ndarray,
    cut_from: dict[int, int],
) -> None:
    """Join posterior elements cut off from their vertebra's body to the body at their level (in place).

    Thin laminae and pedicles blurred by coarse voxels can lose their link to the body; a piece with
    posterior midline bone but no anterior midline bone is then given to the piece with the most anterior
    midline bone at its height (C2 laminae to the C2 body, a C3 spinous process to C3). If it joins two
    vertebrae, the gap cuts that follow separate them again.
    """
    n = int(pieces.max()) + 1
    has_anterior = np.bincount(label_of[anterior], minlength=n) > 0
    has_posterior = np.bincount(label_of[posterior], minlength=n) > 0
    for label in np.nonzero(has_posterior & ~has_anterior)[0]:
        w_posterior = w[posterior & (label_of == label)]
        band = anterior & (w >= w_posterior.min() - 2.0) & (w <= w_posterior.max() + 2.0)
        if not band.any():
            continue
        target = int(np.argmax(np.bincount(label_of[band], minlength=n)))
        if w_posterior.min() > w[anterior & (label_of == target)].max() - MIN_BODY_OVERLAP_MM:
            continue  # wholly above that body (the occipital squama over the dens): not its arch
        if cut_from.get(int(label)) == target or cut_from.get(target) == int(label):
            continue  # the two sides of a cut at a gap: joining them back would undo the cut
        pieces[pieces == label] = target


def _longest_run_mm(w_mm: np.ndarray, slice_mm: float) -> float:
    """Longest stretch along the cord covered without a gap by the given positions (mm).

    The C2 body and dens form one bone column about 35-40 mm tall; a C3-C7 body is about 13 mm, with a
    disc below and above it.
    """
    if w_mm.size == 0:
        return 0.0
    levels = np.unique(np.round(w_mm, 1))
    breaks = np.nonzero(np.diff(levels) > max(2.0, 1.5 * slice_mm))[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks, [levels.size - 1]])
    return float(np.max(levels[ends] - levels[starts]))


def _posterior_gap(w_posterior: np.ndarray) -> tuple[float, float] | None:
    """The widest bone-free interval (>= 3 mm) along the cord in a piece's posterior midline bone.

    One vertebra's posterior elements are continuous along the cord; a gap means the piece holds two
    vertebrae (C2 laminae below, the C1 posterior arch above the C1-C2 interlaminar space).
    """
    if w_posterior.size < 2:
        return None
    levels = np.unique(np.round(w_posterior, 1))
    steps = np.diff(levels)
    if steps.size == 0 or steps.max() < 3.0:
        return None
    k = int(np.argmax(steps))
    return float(levels[k]), float(levels[k + 1])


def _stack_gap(w_posterior: np.ndarray, w_anterior: np.ndarray) -> tuple[tuple[float, float], bool] | None:
    """A gap showing that a piece holds two bones one above the other, and whether it is anterior.

    The posterior midline gap (interlaminar space) comes first; without one, a gap in the anterior
    midline bone does (C1's anterior arch below the basion when the posterior occiput is out of view or
    split off, a C2 body over C3's when their laminae touch).
    """
    gap = _posterior_gap(w_posterior)
    if gap is not None:
        return gap, False
    gap = _posterior_gap(w_anterior)
    return (gap, True) if gap is not None else None


def _cut_atlas_from_axis(
    pieces: np.ndarray,
    label: int,
    new_label: int,
    grid: AxialGrid,
    axes: _CordAxes,
    gap: tuple[float, float],
    spacing: np.ndarray,
    *,
    in_front: bool = False,
) -> None:
    """Split a piece holding C1 and C2 where they touch (in place).

    Seeds: the posterior bone above the interlaminar gap is C1 (posterior arch); the posterior bone below
    it and the anterior column well below it (C2 body) are C2. A watershed on the inverted distance to
    the bone surface then meets at the narrowest contacts, which are the lateral atlanto-axial joints
    (the classic way of separating touching objects; Beucher & Meyer 1993). The dens, joined to C2 only,
    stays with C2.
    """
    index = np.argwhere(pieces == label)
    u, v, w = axes.coordinates(grid.index_to_lps(index))
    midline = np.abs(u) <= MIDLINE_HALF_WIDTH_MM
    posterior = midline & (v >= POSTERIOR_V_MM[0])
    anterior = midline & (v <= ANTERIOR_V_MM[1])
    markers = np.zeros(len(index), dtype=np.int32)
    markers[posterior & (w >= gap[1])] = 1
    markers[posterior & (w <= gap[0])] = 2
    if in_front:
        markers[anterior & (w >= gap[1])] = 1
        markers[anterior & (w <= gap[0])] = 2
    # Two bodies one above the other (C2 on C3, or the basion above the C1 anterior arch and the dens)
    # leave a gap in the anterior midline bone too, a disc or joint space: the cut follows it.
    if not in_front:
        _mark_anterior_column(markers, anterior, v, w, gap, float(spacing[2]))
    # Lateral parts: the joint is the narrowest level of each side's bone between the C2 laminae and
    # the C1 arch (found per side, since a tilted head tilts the joint plane); bone well above it is C1
    # (lateral mass), well below it C2 (superior facet, pedicle). The watershed settles the band between.
    # The joint lies level with the posterior gap (lateral atlanto-axial joint between the C2 laminae and
    # the C1 arch; atlanto-occipital joint between the C1 arch and the occipital squama).
    _seed_sides_at_joints(markers, u, w, (gap[0] - 4.0, gap[1] + 4.0), float(spacing[2]))
    if not (markers == 1).any() or not (markers == 2).any():
        return
    _watershed_piece(pieces, index, markers, new_label, spacing)


def _seed_sides_at_joints(
    markers: np.ndarray,
    u: np.ndarray,
    w: np.ndarray,
    window_w: tuple[float, float],
    slice_mm: float,
    *,
    notch_only: bool = False,
) -> None:
    """Seed each side's lateral bone well above its joint (:func:`_joint_level` between the levels
    ``window_w``) with 1 and well below it with 2 (in place); a side without a joint is left unseeded."""
    step = max(0.5, slice_mm)  # never finer than the slices, or bins fall between them
    bins = np.arange(window_w[0], window_w[1] + step, step)
    for sign in (1.0, -1.0):
        lateral = (sign * u >= 8.0) & (sign * u <= 30.0)
        joint_w = _joint_level(w[lateral], bins, notch_only=notch_only)
        if joint_w is None:
            continue
        markers[lateral & (w >= joint_w + JOINT_MARGIN_MM)] = 1
        markers[lateral & (w <= joint_w - JOINT_MARGIN_MM)] = 2


def _joint_level(w_mm: np.ndarray, bins: np.ndarray, *, notch_only: bool = False) -> float | None:
    """Along-cord level of a joint between two stacked bones: the deepest notch in their bone count per level.

    The joint is the narrowest level *between* the bones, a minimum with more bone both above and below
    it. The overall minimum of the window is not: a bone tapering towards the window's end (C2's pedicles
    below a wide interlaminar gap) has fewer voxels there than at the joint, and taking that end put one
    side's C2 facet above the cut (family draw 90: C2 Dice 0.69). Counts are smoothed over about
    JOINT_SMOOTHING_MM (not at all on slices that thick: smoothing over three 2 mm slices moved the notch
    by a slice). A window with no notch (one bone only) falls back on its narrowest level, or gives None
    with ``notch_only``.
    """
    counts, _ = np.histogram(w_mm, bins=bins)
    step = float(bins[1] - bins[0])
    half = int(0.5 * JOINT_SMOOTHING_MM / step)
    if counts.size < 2 * half + 1 or counts.sum() == 0:
        return None
    smoothed = np.convolve(counts, np.ones(2 * half + 1) / (2 * half + 1), mode="valid")
    # How far each level lies below the largest count at or beyond it on each side.
    below = np.maximum.accumulate(smoothed)
    above = np.maximum.accumulate(smoothed[::-1])[::-1]
    depth = np.minimum(below, above) - smoothed
    if notch_only and depth.max() <= 0:
        return None
    at = int(np.argmax(depth)) if depth.max() > 0 else int(np.argmin(smoothed))
    return float(bins[half + at] + 0.5 * step)


def _trim_above_atlas(
    pieces: np.ndarray,
    label: int,
    new_label: int,
    grid: AxialGrid,
    axes: _CordAxes,
    arch_top_w: float,
    spacing: np.ndarray,
) -> None:
    """Cut the occipital condyles off C1 where they rest on its lateral masses (in place).

    The atlanto-occipital joint space is thinner than a coarse slice, so the condyles (and the occipital
    plate joined to them) can stay on the C1 piece when the midline occiput is out of view or already cut
    off. Each side's lateral bone narrows to the top of the lateral mass, a little above the anterior
    arch, and widens again into a condyle: when clearly more bone lies above the narrowest level than at
    it, bone well above that level is the occiput (``new_label``) and a watershed settles the band.
    """
    index = np.argwhere(pieces == label)
    u, _, w = axes.coordinates(grid.index_to_lps(index))
    step = max(1.0, float(spacing[2]))
    markers = np.zeros(len(index), dtype=np.int32)
    for sign in (1.0, -1.0):
        lateral = (sign * u >= 8.0) & (sign * u <= 30.0)
        if not lateral.any() or w[lateral].max() < arch_top_w:
            continue
        bins = np.arange(arch_top_w - 4.0, w[lateral].max() + step, step)
        counts, _ = np.histogram(w[lateral], bins=bins)
        if counts.size < 4:
            continue
        smoothed = np.convolve(counts, np.ones(3) / 3, mode="same")
        k = int(np.argmin(smoothed[1:-1])) + 1
        if counts[k + 1 :].sum() < 3.0 * max(counts[k], 1):
            continue
        joint_w = float(bins[k] + step / 2)
        markers[lateral & (w >= joint_w + JOINT_MARGIN_MM)] = 1
        markers[lateral & (w <= joint_w - JOINT_MARGIN_MM)] = 2
    if not (markers == 1).any():
        return
    midline = np.abs(u) <= MIDLINE_HALF_WIDTH_MM
    markers[midline & (w <= arch_top_w)] = 2
    _watershed_piece(pieces, index, markers, new_label, spacing)


def _trim_below_axis(
    pieces: np.ndarray,
    label: int,
    new_label: int,
    grid: AxialGrid,
    axes: _CordAxes,
    dens: tuple[float, tuple[float, ...]],
    spacing: np.ndarray,
) -> None:
    """Cut C3 off C2 where C2's inferior articular processes rest on C3's (in place).

    ``dens`` is the dens tip's level and the range of C2 heights below it (``seeds/myelogram.yaml``). The
    C2-C3 disc shows as the first (nearly) empty level of the anterior midline column below the C2
    body, that far below the dens tip; each side's facet joint is the narrowest level of the
    lateral bone within a few mm of the disc. Bone below both (C3) goes to ``new_label`` when clearly more
    bone lies below the joint than at it; a watershed settles the band between.
    """
    index = np.argwhere(pieces == label)
    u, v, w = axes.coordinates(grid.index_to_lps(index))
    step = max(1.0, float(spacing[2]))
    midline = np.abs(u) <= MIDLINE_HALF_WIDTH_MM
    anterior = midline & (v <= ANTERIOR_V_MM[1])
    dens_tip_w, (shortest, tallest) = dens
    bins = np.arange(dens_tip_w - tallest, dens_tip_w - shortest + step, step)
    counts, _ = np.histogram(w[anterior], bins=bins)
    if not counts.any():
        return
    low = np.nonzero(counts <= 0.25 * np.median(counts[counts > 0]))[0]
    if low.size == 0:
        return
    disc_w = float(bins[low[-1]] + step / 2)
    markers = np.zeros(len(index), dtype=np.int32)
    markers[anterior & (w <= disc_w - step)] = 1
    markers[midline & (w >= disc_w + step)] = 2
    for sign in (1.0, -1.0):
        lateral = (sign * u >= 8.0) & (sign * u <= 30.0)
        side_bins = np.arange(disc_w - 4.0 - step, disc_w + 4.0 + step, step)
        side, _ = np.histogram(w[lateral], bins=side_bins)
        if side.size < 4 or not side.any():
            continue
        smoothed = np.convolve(side, np.ones(3) / 3, mode="same")
        k = int(np.argmin(smoothed[1:-1])) + 1
        if side[:k].sum() < 3.0 * max(side[k], 1):
            continue
        joint_w = float(side_bins[k] + step / 2)
        markers[lateral & (w <= joint_w - JOINT_MARGIN_MM)] = 1
        markers[lateral & (w >= joint_w + JOINT_MARGIN_MM)] = 2
    if not (markers == 1).any() or not (markers == 2).any():
        return
    _watershed_piece(pieces, index, markers, new_label, spacing)


def _adopt_fragments(
    pieces: np.ndarray,
    vertebrae: tuple[int, int],
    label_of: np.ndarray,
    midline: np.ndarray,
    lateral: np.ndarray,
    w: np.ndarray,
) -> None:
    """Give lateral fragments of C1 and C2 back to their vertebra (in place).

    Coarse voxels break thin parts (pedicles, articular processes, a lateral mass) off at the erosion
    that splits the bones; such a fragment has no midline bone of its own. It joins the vertebra it
    touches whose lateral bone (5th to 95th percentile) spans its median level (the condyles above C1
    and C3's pillars below C2 lie outside those spans); touching both, the one with the larger contact.
    ``label_of``, ``midline``, ``lateral`` and ``w`` describe the same sample of bone voxels.
    """
    n = int(pieces.max()) + 1
    present = np.bincount(label_of, minlength=n) > 0
    has_midline = np.bincount(label_of[midline], minlength=n) > 0
    orphans = np.nonzero(present & ~has_midline)[0]
    orphans = orphans[(orphans > 0) & ~np.isin(orphans, vertebrae)]
    spans = {}
    for target in vertebrae:
        w_lateral = w[lateral & (label_of == target)]
        if w_lateral.size:
            spans[target] = (float(np.percentile(w_lateral, 5)), float(np.percentile(w_lateral, 95)))
    boxes = ndimage.find_objects(pieces)
    for label in orphans:
        level = float(np.median(w[label_of == label]))
        candidates = [t for t, (lo, hi) in spans.items() if lo <= level <= hi]
        box = boxes[label - 1]
        if not candidates or box is None:
            continue
        grown = tuple(slice(max(0, b.start - 1), b.stop + 1) for b in box)
        local = pieces[grown]
        own = local == label
        contact = np.bincount(local[ndimage.binary_dilation(own) & ~own], minlength=n)
        target = max(candidates, key=lambda t: contact[t])
        if contact[target] > 0:
            local[own] = target


def _claim_inferior_facets(
    pieces: np.ndarray,
    vertebrae: tuple[int, int],
    label_of: np.ndarray,
    w: np.ndarray,
    endplate_w: float,
    grid: AxialGrid,
    axes: _CordAxes,
    spacing: np.ndarray,
) -> None:
    """Give C2 back its inferior articular processes, split off with C3's (in place).

    C2's inferior articular processes rest on C3's superior ones. Blurred, their facet joint shows no gap
    while the thin pars interarticularis above it can, so the processes end on a piece with C3's (a
    pillar fragment, or C3 itself) as other bone (family draws 12, 31, 74, 90, 95: C2 0.80-0.90). Any other
    piece reaching from well above the C2 body's lower endplate (``endplate_w``, the C2-C3 disc) to well
    below it is cut on each side at its facet joint, the deepest notch of its bone count per level within
    4 mm of the endplate: bone well above it goes to C2 (``vertebrae`` is C1's and C2's labels), the
    midline and bone well below stay, and a watershed settles the band. ``label_of`` and ``w`` describe a
    sample of the bone voxels.
    """
    labels = np.unique(label_of)
    reaches_above = ndimage.maximum(w, label_of, labels) >= endplate_w + JOINT_MARGIN_MM
    reaches_below = ndimage.minimum(w, label_of, labels) <= endplate_w - JOINT_MARGIN_MM
    window_w = (endplate_w - 4.0, endplate_w + 4.0)
    for label in labels[reaches_above & reaches_below & ~np.isin(labels, vertebrae)]:
        index = np.argwhere(pieces == label)
        u_piece, _, w_piece = axes.coordinates(grid.index_to_lps(index))
        markers = np.where(np.abs(u_piece) <= MIDLINE_HALF_WIDTH_MM, 2, 0).astype(np.int32)
        _seed_sides_at_joints(markers, u_piece, w_piece, window_w, float(spacing[2]), notch_only=True)
        if (markers == 1).any() and (markers == 2).any():
            _watershed_piece(pieces, index, markers, vertebrae[1], spacing)


def _watershed_piece(
    pieces: np.ndarray, index: np.ndarray, markers: np.ndarray, new_label: int, spacing: np.ndarray
) -> None:
    """Split the voxels ``index`` of one piece between marker 1 (to ``new_label``) and 2 (in place)."""
    from skimage.segmentation import watershed

    corner = index.min(axis=0)
    local = index - corner
    box_shape = tuple(int(n) for n in local.max(axis=0) + 1)
    mask = np.zeros(box_shape, dtype=bool)
    mask[tuple(local.T)] = True
    seeds = np.zeros(box_shape, dtype=np.int32)
    seeds[tuple(local.T)] = markers
    depth = ndimage.distance_transform_edt(mask, sampling=spacing)
    regions = watershed(-depth, seeds, mask=mask)
    upper = regions[tuple(local.T)] == 1
    pieces[tuple(index[upper].T)] = new_label


def _mark_anterior_column(
    markers: np.ndarray,
    anterior: np.ndarray,
    v: np.ndarray,
    w: np.ndarray,
    gap: tuple[float, float],
    slice_mm: float,
) -> None:
    """Seed the anterior midline bone of a piece cut at a posterior gap (in place; 1 above, 2 below)."""
    # Two bodies one above the other (C2 on C3, or the basion above the C1 anterior arch and the dens)
    # leave a gap in the anterior midline bone too, a disc or joint space: the cut follows it.
    body_gap = _anterior_gap(w[anterior], gap, slice_mm)
    if body_gap is not None:
        markers[anterior & (w >= body_gap[1])] = 1
        markers[anterior & (w <= body_gap[0])] = 2
        return
    markers[anterior & (w <= gap[0] - 3.0)] = 2
    # C1 on C2: the anterior column runs on through the interlaminar level (the dens). At the upper
    # interlaminar level the anterior midline bone is the dens alone (the C2 body ends lower); above it,
    # midline bone in front of the dens is the C1 anterior arch (it may touch the dens by partial volume).
    dens = anterior & (w > gap[1] - 0.35 * (gap[1] - gap[0])) & (w < gap[1])
    dens_front_v = float(v[dens].min()) if dens.any() else -np.inf
    # The column behind the dens front: the arch in front and a basion touching the dens tip are not in
    # it (family draw 3005: the basion touched the dens, the whole run above the gap was 24 mm, the
    # column's 14 mm).
    column = anterior & (v >= dens_front_v - 0.3)
    rise_mm = _run_above_mm(w[column], gap[1], slice_mm)
    if rise_mm > MAX_DENS_ABOVE_GAP_MM:
        # Far more bone above the gap than a dens: the upper vertebra's own body (C2 over C3, their disc
        # blurred away); it belongs with the posterior bone above the gap.
        markers[anterior & (w >= gap[1])] = 1
        return
    if not dens.any():
        return
    markers[anterior & ~column & (w >= gap[1])] = 1
    markers[dens] = 2
    # The dens's core above the gap is C2 as well, when the column passes the whole interlaminar level (a
    # dens does; C1's anterior arch below a basion does not). Unseeded, it was flooded from the arch it
    # touches (family draw 3006: the upper dens went to C1). Its lower half is seeded, and only its back
    # half, well behind the arch (the front found at the gap can lie within the arch: family draw 44); the
    # watershed settles the rest and the tip, which the arch and the basion may touch.
    if _run_above_mm(w[column], gap[0], slice_mm) >= gap[1] - gap[0]:
        core = column & (v >= 0.5 * (dens_front_v + float(v[dens].max())))
        markers[core & (w >= gap[1]) & (w <= gap[1] + 0.5 * rise_mm)] = 2


def _run_above_mm(w_mm: np.ndarray, start_mm: float, slice_mm: float) -> float:
    """How far bone runs on without a gap upwards from ``start_mm`` (0 if none there)."""
    levels = np.unique(np.round(w_mm[w_mm >= start_mm - 1.0], 1))
    if levels.size == 0:
        return 0.0
    breaks = np.nonzero(np.diff(levels) > max(2.0, 1.5 * slice_mm))[0]
    top = levels[breaks[0]] if breaks.size else levels[-1]
    return float(top - start_mm)


def _anterior_gap(
    w_anterior: np.ndarray, posterior_gap: tuple[float, float], slice_mm: float
) -> tuple[float, float] | None:
    """A bone-free interval in a piece's anterior midline bone near its posterior gap (a disc or the
    atlanto-occipital joint space), or None when the anterior column runs through (C1 on C2: the dens)."""
    if w_anterior.size < 2:
        return None
    levels = np.unique(np.round(w_anterior, 1))
    steps = np.diff(levels)
    wide = np.nonzero(steps > max(2.0, 1.5 * slice_mm))[0]
    # Bone on each side of a break must span more than a slice: a speck of the next vertebra touching
    # through partial volume (one voxel of C3 under the C2 body) is not a body beyond a disc.
    run_spans = np.concatenate([levels[wide], [levels[-1]]]) - np.concatenate([[levels[0]], levels[wide + 1]])
    solid = (run_spans[:-1] >= max(2.0, slice_mm)) & (run_spans[1:] >= max(2.0, slice_mm))
    breaks = wide[solid]
    near = (levels[breaks + 1] >= posterior_gap[0] - BODY_GAP_BELOW_MM) & (
        levels[breaks] <= posterior_gap[1] + BODY_GAP_ABOVE_MM
    )
    breaks = breaks[near]
    if breaks.size == 0:
        return None
    # The break nearest the posterior gap (overlapping it, ideally), the widest among equally near ones: a
    # stray bit of the lower vertebra far below must not win over the joint space beside the gap.
    distance = np.maximum(
        0.0, np.maximum(levels[breaks] - posterior_gap[1], posterior_gap[0] - levels[breaks + 1])
    )
    k = int(breaks[np.lexsort((-steps[breaks], np.round(distance)))[0]])
    return float(levels[k]), float(levels[k + 1])


@dataclass(frozen=True)
class _CordAxes:
    """The vertebra search's frame: the cord centerline, one superior axis for the field of view (enough
    to order structures along the cord) and the posterior direction, measured once per CT."""

    centerline_lps_mm: np.ndarray
    superior: np.ndarray
    posterior: np.ndarray

    @classmethod
    def measure(cls, cord: CordSegmentation, bone: np.ndarray, grid: AxialGrid) -> _CordAxes:
        """Posterior from the mirror symmetry of ``bone`` (on ``grid``) about the cord, or from the cord's
        own short axis when too little bone is in view to measure it."""
        centerline = cord.centerline_lps_mm
        superior = centerline_direction(centerline)
        axes = cls(centerline, superior, cord_posterior(cord, superior))
        posterior = _symmetry_posterior(bone, grid, axes)
        return axes if posterior is None else cls(centerline, superior, posterior)

    @property
    def left(self) -> np.ndarray:
        return np.cross(self.posterior, self.superior)

    def coordinates(self, lps: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(left, posterior, along-cord) offsets (mm) of points from the centerline at their own height."""
        offset, w = self.offsets(lps)
        return offset @ self.left, offset @ self.posterior, w

    def offsets(self, lps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each point's offset (mm, LPS) from the centerline point at its height, and that height (mm
        along the superior axis from the centerline's mean)."""
        origin = self.centerline_lps_mm.mean(axis=0)
        w = (lps - origin) @ self.superior
        line_w = (self.centerline_lps_mm - origin) @ self.superior
        order = np.argsort(line_w)
        centre = np.stack(
            [np.interp(w, line_w[order], self.centerline_lps_mm[order, a]) for a in range(3)], axis=1
        )
        return lps - centre, w


def _symmetry_posterior(bone: np.ndarray, grid: AxialGrid, axes: _CordAxes) -> np.ndarray | None:
    """Posterior direction in the bone's plane of mirror symmetry through the cord, signed to image +P.

    The vertebrae are near mirror images about the midsagittal plane whatever the cord's shape. A round
    cord has no short axis (family draw 74, a 9.9 x 10.1 mm cord: its outlines' axes pointed anywhere,
    the midline corridors missed the spinous processes and C1 went unfound); this plane is within 0.5
    degrees of the truth there. Planes through the centerline, turned about the superior axis and shifted
    sideways, are scored by the share of bone voxels whose mirror image is bone; the best one holds the
    posterior direction. None with too little bone near the cord.
    """
    index = np.argwhere(bone)
    offset, _ = axes.offsets(grid.index_to_lps(index))
    offset -= np.outer(offset @ axes.superior, axes.superior)
    near = np.linalg.norm(offset, axis=1) <= SYMMETRY_RADIUS_MM
    if near.sum() < SYMMETRY_POINTS // 10:
        return None
    step = max(1, int(near.sum()) // SYMMETRY_POINTS)
    index, offset = index[near][::step].astype(np.float64), offset[near][::step]
    to_index = np.linalg.inv(grid.affine_lps[:3, :3])
    shape = np.array(bone.shape)
    across = np.cross(axes.superior, axes.posterior)

    def best(angles_rad: np.ndarray, shifts_mm: np.ndarray) -> tuple[float, float]:
        """The (angle from the cord's posterior, shift) whose mirror maps most bone onto bone."""
        scores = np.empty((len(angles_rad), len(shifts_mm)))
        for k, angle in enumerate(angles_rad):
            # Not signed to +P here: a shift must keep its side for every angle of the search.
            left = np.cross(np.cos(angle) * axes.posterior + np.sin(angle) * across, axes.superior)
            distance = (offset @ left)[None, :] - shifts_mm[:, None]
            mirrored = np.rint(index - 2.0 * distance[..., None] * (to_index @ left)).astype(np.int64)
            inside = np.all((mirrored >= 0) & (mirrored < shape), axis=2)
            hits = np.zeros(inside.shape, dtype=bool)
            hits[inside] = bone[tuple(mirrored[inside].T)]
            scores[k] = hits.sum(axis=1)
        top, side = np.unravel_index(int(np.argmax(scores)), scores.shape)
        return float(angles_rad[top]), float(shifts_mm[side])

    coarse, fine = SYMMETRY_STEPS_DEG
    angle, shift = best(
        np.radians(np.arange(-90.0, 90.0, coarse)), np.arange(-SYMMETRY_SHIFT_MM, SYMMETRY_SHIFT_MM + 0.5)
    )
    angle, _ = best(
        angle + np.radians(np.arange(-coarse, coarse + fine / 2, fine)), shift + np.arange(-1.0, 1.1, 0.25)
    )
    return turned_posterior(axes.posterior, axes.superior, angle)


def _foramina(
    bone: np.ndarray, pieces: np.ndarray, labels: dict[str, int], grid: AxialGrid, axes: _CordAxes
) -> dict[tuple[str, str], np.ndarray]:
    """Centres of the transverse foramina, keyed (side, vertebra): enclosed holes lateral to the canal.

    The holes are sought in all bone, gaps narrower than FORAMEN_GAP_CLOSING_MM closed in-plane first:
    the wall of a foramen is thin, blurred open on coarse voxels, and can be split between two labelled
    pieces. A hole belongs to the vertebra that owns most of the bone around it. Holes smaller than
    MIN_FORAMEN_MM3 are pockets of cancellous bone, not the artery's canal (averaged in, they put the C2
    foramen of family draw 1 6 mm from the artery). Where the ring is closed in-plane the canal is an
    enclosed hole too, and it reaches past LATERAL_FORAMEN_MM on the side a displaced cord leaves; a hole
    reaching the cord's midline is the canal.
    """
    closed = _close_in_planes(bone, FORAMEN_GAP_CLOSING_MM, grid.spacing_mm)
    holes = fill_holes_in_planes(closed, axis=2) & ~closed
    components, count = ndimage.label(holes)
    if count == 0:
        return {}
    index = np.argwhere(holes)
    lps = grid.index_to_lps(index)
    u, _, _ = axes.coordinates(lps)
    component = components[tuple(index.T)]
    volume_mm3 = np.bincount(component, minlength=count + 1) * float(np.prod(grid.spacing_mm))
    canal = np.zeros(count + 1, dtype=bool)
    canal[component[np.abs(u) <= MIDLINE_HALF_WIDTH_MM]] = True
    owner = _surrounding_piece(components, count, pieces, bone)
    result: dict[tuple[str, str], np.ndarray] = {}
    for name, label in labels.items():
        keep = (owner[component] == label) & ~canal[component] & (volume_mm3[component] >= MIN_FORAMEN_MM3)
        for side, sign in (("left", 1.0), ("right", -1.0)):
            lateral = keep & (sign * u > LATERAL_FORAMEN_MM)
            if lateral.sum() >= 3:
                result[side, name] = lps[lateral].mean(axis=0)
    return result


def _close_in_planes(mask: np.ndarray, radius_mm: float, spacing_mm: np.ndarray) -> np.ndarray:
    """Binary closing of each axial plane by a disc of ``radius_mm`` (it bridges gaps narrower than the disc)."""
    disc = in_plane_disc(radius_mm, spacing_mm)
    a, b = disc.shape[0] // 2, disc.shape[1] // 2
    closed = ndimage.binary_closing(np.pad(mask, ((a, a), (b, b), (0, 0))), structure=disc)
    return closed[a : closed.shape[0] - a, b : closed.shape[1] - b]


def _surrounding_piece(
    components: np.ndarray, count: int, pieces: np.ndarray, bone: np.ndarray
) -> np.ndarray:
    """For each hole component (index 1..count), the piece label holding most bone voxels in its rim."""
    rim_labels = ndimage.grey_dilation(components, footprint=np.ones((3, 3, 1), dtype=bool))
    rim = bone & (rim_labels > 0) & (components == 0)
    votes = np.zeros((count + 1, int(pieces.max()) + 1), dtype=np.int64)
    np.add.at(votes, (rim_labels[rim], pieces[rim]), 1)
    owner = votes.argmax(axis=1)
    owner[votes.sum(axis=1) == 0] = -1
    return owner
