"""A seeded random family of CT myelogram cases: anatomy, pose and scan drawn from published ranges.

The named variants (:mod:`variants`) each change one thing from a normal case; a method tuned on them
can still fail on a patient who differs in several ways at once. The family draws every parameter at
random from the ranges in ``seeds/family.yaml`` (plus the cord diameters of Kanpolat et al. 1995 and the
CTA lumen range of ``seeds/ct.yaml``): vertebral size and shape (the occiput and C3 always in view), thin
laminae, cord and sac size and the cord's position, head rotation and tilt, intrathecal contrast
200-1000 HU, noise, pixel size 0.3-1.0 mm, slice thickness 0.5-2 mm, a blurrier or sharper kernel, the
field of view, the vertebral-artery courses and a CTA or 3D T2 vascular series in another pose.

Everything comes from one integer: :func:`random_case_parameters` turns it into a frozen
:class:`FamilyParameters` and :func:`make_family_case` renders it with the CT generator
(:func:`pipeline.phantom.ct.render_case`), so labels and truth come from the same anatomy as the image.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

import numpy as np
from scipy import ndimage

from pipeline.phantom.anatomy import Anatomy
from pipeline.phantom.cord_section import CordSection
from pipeline.phantom.ct import VASCULAR_KINDS, CtCase, render_case
from pipeline.phantom.pose import Pose, axial_grid_affine
from pipeline.phantom.variants import CtVariant
from pipeline.phantom.vessels import VA_COURSES
from pipeline.seeds import Seed, Seeds, load_seeds
from pipeline.volume import Volume

__all__ = ["FamilyParameters", "make_coarse_case", "make_family_case", "random_case_parameters"]

# Same scanner placement as the named variants (the cord centre on the planning level, LPS mm).
_CT_ORIGIN_LPS_MM = (2.0, 24.0, -95.0)
_VASCULAR_ORIGIN_LPS_MM = (-6.0, 31.0, -42.0)
# Centre of the scan along the neck, anatomical z (mm): C1-C2 lies at 0, the occiput's rim at about +21
# and the top of C3 at about -25, so a field of view of >= 54 mm centred here holds both.
_FOV_CENTRE_Z_MM = -1.5
# Thin CSF layers that keep the drawn cord inside the drawn sac (mm): the sac's anterior half is 0.47 of
# its AP diameter, its centre 0.5 mm dorsal to the cord's (see Anatomy.sac_semi_axes).
_MIN_CSF_MM = 1.0


@dataclass(frozen=True)
class FamilyParameters:
    """Everything that makes one family case (anatomical frame: x left, y posterior, z superior; mm)."""

    seed: int
    vertebra_scale: tuple[float, float, float]
    bone_warp_mm: float
    bone_warp_seed: int
    lamina_scale: float
    cord_ap_mm: float
    cord_transverse_mm: float
    sac_ap_mm: float
    sac_transverse_mm: float
    cord_shift_mm: float
    va_courses: dict[str, str]
    yaw_deg: float
    pitch_deg: float
    roll_deg: float
    csf_contrast_hu: float
    cortical_bone_hu: float
    cancellous_bone_hu: float
    cta_lumen_hu: float
    noise_sd_hu: float
    spacing_mm: tuple[float, float, float]
    psf_fwhm_mm: tuple[float, float, float]
    fov_mm: tuple[float, float, float]
    fov_centre_anatomical_mm: tuple[float, float, float]
    vascular_kind: str
    vascular_pose_deg: tuple[float, float, float]
    vascular_offset_mm: tuple[float, float, float]

    def to_json(self) -> dict[str, object]:
        return asdict(self)


def _uniform(rng: np.random.Generator, bounds: tuple[float, ...]) -> float:
    return float(rng.uniform(bounds[0], bounds[1]))


def random_case_parameters(seed: int, seeds: Seeds | None = None) -> FamilyParameters:
    """Draw one case of the family; the same ``seed`` always gives the same parameters."""
    seeds = seeds if seeds is not None else load_seeds()
    rng = np.random.default_rng([13, seed])

    def draw(key: str) -> float:
        return _uniform(rng, seeds.numbers(f"family.{key}"))

    overall = draw("vertebra_scale")
    axis_bounds = seeds.numbers("family.vertebra_axis_scale")
    scale = tuple(round(overall * _uniform(rng, axis_bounds), 4) for _ in range(3))
    warp = draw("bone_warp_mm")
    lamina = draw("lamina_scale")
    sac_ap, sac_transverse = draw("sac_ap_mm"), draw("sac_transverse_mm")
    ap_lo, ap_hi = seeds.numbers("anatomy.cord.ap_range_mm")
    t_lo, t_hi = seeds.numbers("anatomy.cord.transverse_range_mm")
    # The cord must leave a CSF layer in front of it and at each side.
    ap_hi = min(ap_hi, 2.0 * (0.47 * sac_ap + 0.5 - _MIN_CSF_MM))
    cord_ap = _uniform(rng, (ap_lo, ap_hi))
    t_hi = min(t_hi, sac_transverse - 2.0 * _MIN_CSF_MM - 1.0)
    cord_transverse = _uniform(rng, (max(t_lo, cord_ap), max(t_hi, cord_ap)))
    shift_lo, shift_hi = seeds.numbers("family.cord_shift_mm")
    room = max(0.0, (sac_transverse - cord_transverse) / 2.0 - _MIN_CSF_MM - 0.5)
    shift = float(np.clip(_uniform(rng, (shift_lo, shift_hi)), -room, room))
    probability = np.asarray(seeds.numbers("family.va_course_probability"))
    courses = {
        side: str(rng.choice(VA_COURSES, p=probability / probability.sum())) for side in ("left", "right")
    }
    yaw, pitch, roll = draw("yaw_deg"), draw("pitch_deg"), draw("roll_deg")
    contrast = draw("csf_contrast_hu")
    cortical = draw("cortical_bone_hu")
    cancellous = draw("cancellous_bone_hu")
    cta = _uniform(rng, seeds.numbers("ct.hu_range.enhanced_artery"))
    noise = draw("noise_sd_hu")
    pixel, thickness = draw("pixel_mm"), draw("slice_mm")
    psf_in_plane = draw("psf_pixels") * pixel
    psf_z = max(float(seeds.numbers("ct.psf_fwhm_mm")[2]), thickness)
    fov_xy, fov_z = draw("fov_in_plane_mm"), draw("fov_superior_mm")
    offsets = seeds.numbers("family.fov_centre_offset_mm")
    centre = (
        _uniform(rng, offsets),
        _uniform(rng, offsets),
        _FOV_CENTRE_Z_MM + 0.5 * _uniform(rng, offsets),
    )
    kind = str(rng.choice(VASCULAR_KINDS))
    v_angles = tuple(draw("vascular_pose_deg") for _ in range(3))
    v_offset = tuple(draw("vascular_offset_mm") for _ in range(3))
    return FamilyParameters(
        seed=seed,
        vertebra_scale=scale,  # type: ignore[arg-type]
        bone_warp_mm=warp,
        bone_warp_seed=int(rng.integers(1, 10_000)),
        lamina_scale=lamina,
        cord_ap_mm=cord_ap,
        cord_transverse_mm=cord_transverse,
        sac_ap_mm=sac_ap,
        sac_transverse_mm=sac_transverse,
        cord_shift_mm=shift,
        va_courses=courses,
        yaw_deg=yaw,
        pitch_deg=pitch,
        roll_deg=roll,
        csf_contrast_hu=contrast,
        cortical_bone_hu=cortical,
        cancellous_bone_hu=cancellous,
        cta_lumen_hu=cta,
        noise_sd_hu=noise,
        spacing_mm=(pixel, pixel, thickness),
        psf_fwhm_mm=(psf_in_plane, psf_in_plane, psf_z),
        fov_mm=(fov_xy, fov_xy, fov_z),
        fov_centre_anatomical_mm=centre,
        vascular_kind=kind,
        vascular_pose_deg=v_angles,  # type: ignore[arg-type]
        vascular_offset_mm=v_offset,  # type: ignore[arg-type]
    )


def _with_values(seeds: Seeds, values: dict[str, object]) -> Seeds:
    """The seeds with some values replaced (their source says they were drawn for a family case)."""
    entries = dict(seeds)
    for key, value in values.items():
        old = seeds[key]
        entries[key] = Seed(key, value, "random phantom family draw (seeds/family.yaml)", True, old.unit)
    return Seeds(entries)


def make_family_case(seed: int, *, vascular: str | None = "auto", seeds: Seeds | None = None) -> CtCase:
    """Render family case ``seed``: CT myelogram, labels, truth and (optionally) a vascular series.

    Parameters
    ----------
    seed : int
        Draw number; identical arguments give identical voxels.
    vascular : {"auto", "cta", "t2"} or None
        ``"auto"``: the kind drawn for this case; None: no vascular series.
    seeds : Seeds, optional
        Parameters; defaults to :func:`pipeline.seeds.load_seeds`.
    """
    seeds = seeds if seeds is not None else load_seeds()
    params = random_case_parameters(seed, seeds)
    kind = params.vascular_kind if vascular == "auto" else vascular
    drawn = _with_values(
        seeds,
        {
            "ct.hu.csf_contrast": params.csf_contrast_hu,
            "ct.hu.csf_contrast_dorsal_gradient": params.csf_contrast_hu
            * seeds.number("family.csf_contrast_dorsal_fraction"),
            "ct.hu.cortical_bone": params.cortical_bone_hu,
            "ct.hu.cancellous_bone": params.cancellous_bone_hu,
            "ct.hu.enhanced_vessel": params.cta_lumen_hu,
            "ct.psf_fwhm_mm": list(params.psf_fwhm_mm),
        },
    )
    anatomy = Anatomy(
        cord=CordSection(ap_mm=params.cord_ap_mm, transverse_mm=params.cord_transverse_mm),
        cord_shift_mm=params.cord_shift_mm,
        sac_ap_mm=params.sac_ap_mm,
        sac_transverse_mm=params.sac_transverse_mm,
        va_courses=dict(params.va_courses),
        va_diameter_mm=seeds.number("anatomy.vertebral_artery.diameter_mm"),
        ligament_thickness_mm=seeds.number("anatomy.dentate_ligament.thickness_mm"),
        ligament_dorsal_offset_mm=seeds.number("anatomy.dentate_ligament.dorsal_offset_mm"),
        bone_scale=params.vertebra_scale,
        bone_warp_mm=params.bone_warp_mm,
        bone_warp_seed=params.bone_warp_seed,
        lamina_scale=params.lamina_scale,
    )
    pose = Pose(_CT_ORIGIN_LPS_MM, params.yaw_deg, params.pitch_deg, params.roll_deg)
    spacing = np.asarray(params.spacing_mm)
    shape = tuple(max(8, round(f / s)) for f, s in zip(params.fov_mm, spacing, strict=True))
    # Axis-aligned scanner grid (the table does not turn with the head).
    centre_lps = np.asarray(_CT_ORIGIN_LPS_MM) + np.asarray(params.fov_centre_anatomical_mm)
    affine = axial_grid_affine(centre_lps, shape, params.spacing_mm)  # type: ignore[arg-type]
    spec = CtVariant(
        f"family-{seed}",
        "random phantom family draw (pipeline.phantom.family)",
        yaw_deg=params.yaw_deg,
        pitch_deg=params.pitch_deg,
        roll_deg=params.roll_deg,
        va_courses=dict(params.va_courses),
    )
    v_pose = Pose(
        tuple(np.asarray(_VASCULAR_ORIGIN_LPS_MM) + np.asarray(params.vascular_offset_mm)),  # type: ignore[arg-type]
        *params.vascular_pose_deg,
    )
    case = render_case(
        spec,
        anatomy,
        pose,
        affine,
        shape,  # type: ignore[arg-type]
        spacing,
        drawn,
        np.random.default_rng([17, seed]),
        seed=seed,
        noise_sd=params.noise_sd_hu,
        vascular=kind,
        vascular_pose=v_pose,
        # A neck CTA or 3D T2 covers far more than the myelogram's few centimetres.
        vascular_fov_mm=tuple(f + 24.0 for f in params.fov_mm),  # type: ignore[arg-type]
    )
    case.truth["family"] = params.to_json()
    return case


def make_coarse_case(seed: int, *, vascular: str | None = None, seeds: Seeds | None = None) -> CtCase:
    """Family case ``seed`` as a coarse head-and-neck CT resampled finer (issue 13's held-out real scans).

    The draw is rendered with pixels a fifth of a coarse pixel (``family.coarse_pixel_mm``) and the thin
    contrast of those scans (``family.coarse_csf_contrast_hu``); each 5x5 block of pixels is averaged (a
    coarse acquisition: its noise falls and thin laminae and CSF layers fade) and the image is resampled
    back to the fine grid by linear interpolation, as the real scans were. The labels stay on the fine
    grid, so the truth is exact. ``truth["coarse_pixel_mm"]`` records the coarse pixel.
    """
    seeds = seeds if seeds is not None else load_seeds()
    block = int(seeds.number("family.coarse_block_pixels"))
    coarse_mm = seeds.numbers("family.coarse_pixel_mm")
    fine = _with_values(
        seeds,
        {
            "family.pixel_mm": [coarse_mm[0] / block, coarse_mm[1] / block],
            "family.csf_contrast_hu": list(seeds.numbers("family.coarse_csf_contrast_hu")),
        },
    )
    case = make_family_case(seed, vascular=vascular, seeds=fine)
    array = np.asarray(case.ct.array, dtype=np.float32)
    nx, ny = (array.shape[0] // block) * block, (array.shape[1] // block) * block
    means = array[:nx, :ny].reshape(nx // block, block, ny // block, block, -1).mean(axis=(1, 3))
    # grid_mode: each coarse pixel covers its block, so the resampled image stays centred on the fine grid.
    resampled = array.copy()
    resampled[:nx, :ny] = ndimage.zoom(means, (block, block, 1), order=1, mode="nearest", grid_mode=True)
    ct = Volume(
        np.round(resampled).astype(case.ct.array.dtype),
        case.ct.affine_lps,
        case.ct.provenance.with_note(f"{block}x{block} pixel blocks averaged and resampled back (coarse CT)"),
    )
    case.truth["coarse_pixel_mm"] = float(case.truth["family"]["spacing_mm"][0]) * block
    return replace(case, ct=ct)
