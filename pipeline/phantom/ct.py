"""CT myelogram of the upper cervical spine with ground truth, plus a vascular series in its own frame.

The anatomy (:mod:`anatomy`, :mod:`vessels`, :mod:`cord_section`) is evaluated at every voxel centre of
an axial scan grid through a rigid head pose (:mod:`pose`), given CT numbers (:mod:`tissues`), blurred by
the scanner's point-spread function, given the sub-voxel dentate ligament as a partial-volume line, and
noise with CT texture (:mod:`imaging`). Labels follow the output contract (DESIGN §4): 1 contrast CSF,
2 cord, 3 C1, 4 C2, 5 other bone, 6 left vertebral artery, 7 right vertebral artery, 8 dentate ligament.

The vascular series (CT angiography: arteries bright; or 3D T2 MR: CSF bright, arteries flow voids) shows
the same patient in another pose and grid, so a stage must register it to the CT before use.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import ndimage

from pipeline.contract import Label
from pipeline.phantom.anatomy import Anatomy, Regions, evaluate_regions, smooth_field
from pipeline.phantom.cord_section import CordSection
from pipeline.phantom.imaging import blur, correlated_noise, sheet_profile
from pipeline.phantom.pose import (
    SAGITTAL_AXES_LPS,
    Pose,
    axial_grid_affine,
    grid_affine,
    voxel_centres_anatomical,
)
from pipeline.phantom.tissues import ct_hu_map, t2_signal_map
from pipeline.phantom.truth import case_truth, pose_truth
from pipeline.phantom.variants import CtVariant, get_variant
from pipeline.seeds import Seeds, load_seeds
from pipeline.volume import Provenance, Volume

__all__ = ["LABELS", "VASCULAR_KINDS", "CtCase", "make_ct_case", "render_case"]

# Truth label values of the contract (name -> value), as written in truth.json.
LABELS = {label.name.lower(): int(label) for label in Label}
VASCULAR_KINDS = ("cta", "t2")

# Scanner placement: the cord centre on the planning level sits here in the CT's LPS frame.
_CT_ORIGIN_LPS_MM = (2.0, 24.0, -95.0)
_CT_FOV_MM = (90.0, 90.0, 52.0)
_CT_FOV_CENTRE_ANAT_MM = (1.0, 4.0, -1.0)  # scan centred near, not on, the canal
_OUTSIDE_FOV_CENTRE_Z_MM = -55.0
# The vascular scan: another day, another pose and grid.
_VASCULAR_POSE = {"origin_lps_mm": (-6.0, 31.0, -42.0), "yaw_deg": -4.0, "pitch_deg": -7.0, "roll_deg": 2.5}
# (spacing, field of view, array axes in LPS): CTA axial; 3D T2 sagittal, tilted 6° about left-right
# (an oblique acquisition, so ImageOrientationPatient is not a unit-vector pair).
_T2_TILT = np.deg2rad(6.0)
_T2_AXES = (
    np.array([[1, 0, 0], [0, np.cos(_T2_TILT), -np.sin(_T2_TILT)], [0, np.sin(_T2_TILT), np.cos(_T2_TILT)]])
    @ SAGITTAL_AXES_LPS
)
_VASCULAR_GRID = {
    "cta": ((0.6, 0.6, 1.0), (96.0, 96.0, 60.0), np.eye(3)),
    "t2": ((0.8, 0.8, 0.8), (88.0, 64.0, 72.0), _T2_AXES),
}


@dataclass(frozen=True)
class CtCase:
    """A generated case.

    Attributes
    ----------
    ct : Volume
        CT myelogram, int16 HU.
    labels : Volume
        uint8 contract labels on the CT grid (:data:`LABELS`).
    vascular : Volume or None
        CTA (int16 HU) or 3D T2 (uint16) in its own frame.
    vascular_labels : Volume or None
        Labels on the vascular grid.
    truth : dict
        LPS-mm ground truth (see :func:`truth.case_truth`) plus case, scan and tissue details.
    variant : CtVariant
    """

    ct: Volume
    labels: Volume
    vascular: Volume | None
    vascular_labels: Volume | None
    truth: dict[str, Any] = field(default_factory=dict)
    variant: CtVariant = field(default_factory=lambda: get_variant("normal"))


def _anatomy_for(variant: CtVariant, seeds: Seeds) -> Anatomy:
    if variant.cord_size == "small":
        ap, transverse = seeds.numbers("anatomy.cord.small_ap_transverse_mm")
    elif variant.cord_size == "large":
        ap, transverse = seeds.numbers("anatomy.cord.large_ap_transverse_mm")
    else:
        ap, transverse = seeds.number("anatomy.cord.ap_mm"), seeds.number("anatomy.cord.transverse_mm")
    shift = 0.0
    if variant.cord_shift is not None:
        sign = 1.0 if variant.cord_shift == "left" else -1.0
        shift = sign * seeds.number("anatomy.cord.lateral_displacement_mm")
    return Anatomy(
        cord=CordSection(ap_mm=ap, transverse_mm=transverse),
        cord_shift_mm=shift,
        sac_ap_mm=seeds.number("anatomy.dural_sac.ap_mm"),
        sac_transverse_mm=seeds.number("anatomy.dural_sac.transverse_mm"),
        va_courses=dict(variant.va_courses),
        va_diameter_mm=seeds.number("anatomy.vertebral_artery.diameter_mm"),
        ligament_thickness_mm=seeds.number("anatomy.dentate_ligament.thickness_mm"),
        ligament_dorsal_offset_mm=seeds.number("anatomy.dentate_ligament.dorsal_offset_mm"),
    )


def _sheet_geometry(
    normal_voxel_axes: np.ndarray, spacing_mm: np.ndarray, psf_fwhm_mm: np.ndarray
) -> tuple[float, float]:
    """(effective Gaussian sigma across a sheet, half-width of the voxels it passes through).

    ``normal_voxel_axes`` is the sheet's unit normal in the grid's axes; the PSF and the voxel's box
    response (variance s²/12) add along it."""
    normal_lps = normal_voxel_axes
    n2 = normal_lps**2
    psf_sigma = psf_fwhm_mm / (2.0 * np.sqrt(2.0 * np.log(2.0)))
    sigma = float(np.sqrt(np.sum(n2 * psf_sigma**2) + np.sum(n2 * spacing_mm**2) / 12.0))
    half_width = float(0.5 * np.sum(np.abs(normal_lps) * spacing_mm))
    return sigma, half_width


def _labels(regions: Regions, ligament_half_width_mm: float) -> np.ndarray:
    labels = np.zeros(regions.sac.shape, dtype=np.uint8)
    labels[regions.sac] = Label.CSF
    labels[regions.cord] = Label.CORD
    labels[regions.other_bone] = Label.OTHER_BONE
    labels[regions.c2] = Label.C2
    labels[regions.c1] = Label.C1
    ligament = regions.ligament_band & (np.abs(regions.ligament_distance_mm) <= ligament_half_width_mm)
    labels[ligament] = Label.DENTATE_LIGAMENT
    labels[regions.va_left] = Label.LEFT_VERTEBRAL_ARTERY
    labels[regions.va_right] = Label.RIGHT_VERTEBRAL_ARTERY
    return labels


def _bone_depth_mm(bone: np.ndarray, spacing_mm: np.ndarray) -> np.ndarray:
    """Depth of each bone voxel below the bone surface (0 outside bone)."""
    return ndimage.distance_transform_edt(bone, sampling=spacing_mm).astype(np.float32)


def _trabecular_texture(
    shape: tuple[int, int, int], spacing_mm: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """Unit-variance texture with ~0.6 mm grain: cancellous bone is not uniform on CT."""
    field = ndimage.gaussian_filter(rng.standard_normal(shape, dtype=np.float32), sigma=0.3 / spacing_mm)
    return field / np.float32(field.std())


def _render(
    anatomy: Anatomy,
    pose: Pose,
    affine: np.ndarray,
    shape: tuple[int, int, int],
    seeds: Seeds,
    rng: np.random.Generator,
    *,
    kind: str,
    intrathecal_contrast: bool,
    noise_sd: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Image and labels of one scan. ``kind``: "ctm" (myelogram), "cta" or "t2"."""
    x, y, z = voxel_centres_anatomical(affine, shape, pose)
    regions = evaluate_regions(x, y, z, anatomy)
    spacing = np.linalg.norm(affine[:3, :3], axis=0)
    # The ligament sheet is normal to the anatomical AP axis; express that normal along the grid's axes.
    normal_voxel_axes = (affine[:3, :3] / spacing).T @ pose.rotation[:, 1]
    psf = np.asarray(seeds.numbers("ct.psf_fwhm_mm")) if kind != "t2" else np.array([1.0, 1.0, 1.0])
    sigma_sheet, half_width = _sheet_geometry(normal_voxel_axes, spacing, psf)
    labels = _labels(regions, half_width)
    depth = _bone_depth_mm(regions.bone, spacing)
    if kind == "t2":
        clean = t2_signal_map(regions, depth)
        csf_value: np.ndarray | float = 950.0
        ligament_value = 200.0
    else:
        clean = ct_hu_map(
            regions,
            depth,
            y,
            z,
            seeds,
            intrathecal_contrast=intrathecal_contrast and kind == "ctm",
            enhanced_vessels=kind == "cta",
            sac_anterior_mm=anatomy.sac_anterior_mm,
            sac_ap_mm=anatomy.sac_ap_mm,
            muscle_texture=smooth_field(x, y, z, seed=23, wavelength_mm=(10.0, 30.0)),
            trabecular_texture=_trabecular_texture(shape, spacing, rng),
        )
        csf_value = clean
        ligament_value = seeds.number("ct.hu.dentate_ligament_tissue")
    image = blur(clean, tuple(psf), spacing)
    # Dentate ligament: a sheet far thinner than a voxel, added after the blur as its exact profile.
    band = blur(regions.ligament_band.astype(np.float32), tuple(psf), spacing)
    profile = sheet_profile(regions.ligament_distance_mm, anatomy.ligament_thickness_mm, sigma_sheet)
    image += (ligament_value - csf_value) * profile * band
    del x, y, z, regions, depth
    image += correlated_noise(image.shape, noise_sd, rng)
    return image, labels


def _scan_grid(variant: CtVariant, seeds: Seeds) -> tuple[np.ndarray, tuple[int, int, int], np.ndarray]:
    key = {"default": "ct.voxel_mm", "coarse": "ct.voxel_coarse_mm", "fine": "ct.voxel_fine_mm"}[
        variant.voxel
    ]
    spacing = np.asarray(seeds.numbers(key))
    shape = tuple(round(f / s) for f, s in zip(_CT_FOV_MM, spacing, strict=True))
    centre_anat = np.array(_CT_FOV_CENTRE_ANAT_MM)
    if not variant.c1_c2_in_fov:
        centre_anat[2] = _OUTSIDE_FOV_CENTRE_Z_MM
    # Axis-aligned scanner grid: centre offset in LPS without the head's rotation (the table does not turn).
    centre_lps = np.asarray(_CT_ORIGIN_LPS_MM) + centre_anat
    return axial_grid_affine(centre_lps, shape, tuple(spacing)), shape, spacing  # type: ignore[arg-type]


def make_ct_case(
    variant: str = "normal",
    *,
    seed: int = 0,
    vascular: str | None = "cta",
    seeds: Seeds | None = None,
) -> CtCase:
    """Generate a CT myelogram case with labels, truth and (optionally) a vascular series.

    Parameters
    ----------
    variant : str
        One of :data:`pipeline.phantom.variants.VARIANTS` (see ``cordotomy phantom --help``).
    seed : int
        Noise seed; identical arguments give identical voxels.
    vascular : {"cta", "t2"} or None
        Kind of vascular series, or none.
    seeds : Seeds, optional
        Parameters; defaults to :func:`pipeline.seeds.load_seeds`.
    """
    spec = get_variant(variant)
    if vascular is not None and vascular not in VASCULAR_KINDS:
        raise ValueError(f"vascular must be one of {VASCULAR_KINDS} or None, got {vascular!r}")
    seeds = seeds if seeds is not None else load_seeds()
    rng = np.random.default_rng(seed)
    anatomy = _anatomy_for(spec, seeds)
    pose = Pose(_CT_ORIGIN_LPS_MM, spec.yaw_deg, spec.pitch_deg, spec.roll_deg)
    affine, shape, spacing = _scan_grid(spec, seeds)
    noise_sd = seeds.number("ct.noise_sd_high_hu" if spec.high_noise else "ct.noise_sd_hu")
    return render_case(
        spec,
        anatomy,
        pose,
        affine,
        shape,
        spacing,
        seeds,
        rng,
        seed=seed,
        noise_sd=noise_sd,
        vascular=vascular,
        vascular_pose=Pose(**_VASCULAR_POSE),  # type: ignore[arg-type]
    )


def render_case(
    spec: CtVariant,
    anatomy: Anatomy,
    pose: Pose,
    affine: np.ndarray,
    shape: tuple[int, int, int],
    spacing: np.ndarray,
    seeds: Seeds,
    rng: np.random.Generator,
    *,
    seed: int,
    noise_sd: float,
    vascular: str | None,
    vascular_pose: Pose,
    vascular_fov_mm: tuple[float, float, float] | None = None,
) -> CtCase:
    """Images, labels and truth of one case whose anatomy, pose and scan grid are already chosen.

    Shared by the named variants (:func:`make_ct_case`) and the random family
    (:mod:`pipeline.phantom.family`); tissue values and the point-spread function come from ``seeds``.
    ``vascular_fov_mm`` replaces the vascular series' default field of view.
    """
    image, labels = _render(
        anatomy,
        pose,
        affine,
        shape,
        seeds,
        rng,
        kind="ctm",
        intrathecal_contrast=spec.intrathecal_contrast,
        noise_sd=noise_sd,
    )
    ct = Volume(
        np.clip(np.rint(image), -1024, 3071).astype(np.int16),
        affine,
        Provenance(source="phantom", modality="CT", description="CT myelogram C1-C2 (phantom)"),
    )
    label_volume = ct.with_array(labels)

    vascular_volume = vascular_labels = None
    vascular_truth: dict[str, Any] | None = None
    if vascular is not None:
        v_pose = vascular_pose
        v_spacing, v_fov, v_axes = _VASCULAR_GRID[vascular]
        v_fov = vascular_fov_mm if vascular_fov_mm is not None else v_fov
        v_shape = tuple(round(f / s) for f, s in zip(v_fov, v_spacing, strict=True))
        v_affine = grid_affine(v_pose.to_lps(np.array([0.0, 3.0, 0.0])), v_shape, v_spacing, v_axes)  # type: ignore[arg-type]
        v_noise = 25.0 if vascular == "cta" else 18.0
        v_image, v_labels = _render(
            anatomy,
            v_pose,
            v_affine,
            v_shape,  # type: ignore[arg-type]
            seeds,
            rng,
            kind=vascular,
            intrathecal_contrast=False,
            noise_sd=v_noise,
        )
        if vascular == "cta":
            array = np.clip(np.rint(v_image), -1024, 3071).astype(np.int16)
            meta = Provenance(source="phantom", modality="CT", description="CT angiography neck (phantom)")
        else:
            array = np.clip(np.rint(np.abs(v_image)), 0, 4095).astype(np.uint16)
            meta = Provenance(source="phantom", modality="MR", description="3D T2 cervical (phantom)")
        vascular_volume = Volume(array, v_affine, meta)
        vascular_labels = vascular_volume.with_array(v_labels)
        ct_from_vascular = pose.matrix @ np.linalg.inv(v_pose.matrix)
        vascular_truth = {
            "kind": vascular,
            "ct_lps_from_vascular_lps": [[float(v) for v in row] for row in ct_from_vascular],
            "pose": pose_truth(v_pose),
            "noise_sd": v_noise,
        }

    truth = case_truth(
        anatomy,
        pose,
        leg_offset_mm=seeds.number("targeting.pial_entry_offset_mm.leg_default"),
        arm_offset_mm=seeds.number("targeting.pial_entry_offset_mm.arm_default"),
    )
    truth.update(
        {
            "schema": "cordotomy.phantom-truth/1",
            "variant": spec.name,
            "description": spec.description,
            "seed": seed,
            "case": {"pain_side": "right", "pain_region": "leg", "cordotomy_side": "left"},
            "contrast": {"intrathecal": spec.intrathecal_contrast},
            "c1_c2_in_fov": spec.c1_c2_in_fov,
            "expected_exit_code": spec.expected_exit_code,
            "noise_sd_hu": noise_sd,
            "labels": dict(LABELS),
            "ct_geometry": {
                "shape": list(shape),
                "spacing_mm": [float(s) for s in spacing],
                "affine_lps": [[float(v) for v in row] for row in affine],
            },
            "vascular": vascular_truth,
        }
    )
    return CtCase(ct, label_volume, vascular_volume, vascular_labels, truth, spec)
