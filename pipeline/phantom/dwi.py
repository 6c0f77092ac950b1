"""Post-procedure diffusion-weighted phantom of the upper cervical cord with a cordotomy lesion.

A short axial stack (cord-like resolution, straight cord along the slice normal) with four compartments
of known tensor: white matter, grey matter, CSF in the dural sac, soft tissue outside it, plus the
ablation lesion in the lateral spinothalamic region of the cordotomy side (Shepherd et al. AJNR 2017,
follow-up DWI 48 h after). Tensors, protocol and noise level come from ``seeds/diffusion.yaml``.

Signals follow the Stejskal-Tanner tensor model ``S = S0 exp(-b gᵀDg)``; partial volume is simulated by
summing compartment signals weighted by the tissue fractions of each voxel (signal-level mixing, as in a
real voxel), integrated on sub-pixels of at most 0.05 mm in-plane so that the stated truth (the lesion's
share of the cord included) is that of the continuous anatomy, not of a coarse sampling of it. The truth
masks (lesion, homolog) hold only *pure* voxels (all of the voxel in the one tissue), so a perfect tensor
fit inside them returns exactly the stated tensors. Noise is Rician (Gudbjartsson & Patz, MRM 1995):
complex Gaussian noise on the magnitude signal.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from pipeline.phantom.cord_section import CordSection, side_sign
from pipeline.phantom.gradients import fibonacci_hemisphere
from pipeline.phantom.pose import axial_grid_affine
from pipeline.seeds import Seeds, load_seeds
from pipeline.volume import Provenance, Volume, fsl_bvecs_from_lps

__all__ = ["DwiPhantom", "make_dwi_phantom", "tensor_scalars"]

# Tissue codes of the compartment map.
_SOFT, _CSF, _WM, _GM, _LESION = range(5)
SUBPIXEL_MM = 0.05
"""Largest in-plane sub-pixel over which tissue fractions are integrated (partial volume, truth)."""


@dataclass(frozen=True)
class DwiPhantom:
    """A diffusion phantom and everything known about it.

    Attributes
    ----------
    volume : Volume
        4-D float32 magnitude images, volumes last, LPS affine.
    bvals_s_mm2 : (N,) array
    bvecs : (N, 3) array
        Unit vectors (zero for b=0) in the FSL ``.bvec`` convention for this volume's voxel axes, as
        dcm2niix writes them and dipy's ``gradient_table(bvals, bvecs=bvecs)`` reads them.
    directions_lps : (N, 3) array
        The same gradients in patient LPS (the DICOM (0018,9089) frame).
    cord_mask, lesion_mask, homolog_mask : 3-D bool arrays
        Pure-voxel masks; the homolog is the lesion mirrored across the cord's own midsagittal line.
    lesion_fraction, homolog_fraction : 3-D float arrays
        Share (0-1) of each voxel's volume in the lesion and in its mirrored footprint (partial volume).
    truth : dict
        ``lesion`` and ``homolog``: {fa, md_mm2_s, ad_mm2_s, rd_mm2_s} of the true tensors; also tissue
        tensors, cord centre, axes and lesion geometry (LPS mm).
    change_percent : dict
        100·(lesion − homolog)/homolog for fa, md, ad, rd.
    lesion_side : str
        The cordotomy side ("left"/"right"); the pain was on the other side.
    """

    volume: Volume
    bvals_s_mm2: np.ndarray
    bvecs: np.ndarray
    directions_lps: np.ndarray
    cord_mask: np.ndarray
    lesion_mask: np.ndarray
    homolog_mask: np.ndarray
    lesion_fraction: np.ndarray
    homolog_fraction: np.ndarray
    truth: dict[str, Any] = field(default_factory=dict)
    change_percent: dict[str, float] = field(default_factory=dict)
    lesion_side: str = "left"

    @property
    def pain_side(self) -> str:
        """Cordotomy is contralateral to the pain (Shepherd et al. AJNR 2017)."""
        return "right" if self.lesion_side == "left" else "left"


def tensor_scalars(eigenvalues_mm2_s: Sequence[float]) -> dict[str, float]:
    """FA, MD, AD, RD of a tensor from its eigenvalues (Basser & Pierpaoli, JMR B 1996).

    AD is the largest eigenvalue and RD the mean of the other two, as dipy defines them.
    """
    lam = np.sort(np.asarray(eigenvalues_mm2_s, dtype=np.float64))[::-1]
    md = float(lam.mean())
    norm = float(np.sqrt(np.sum(lam**2)))
    fa = float(np.sqrt(1.5) * np.sqrt(np.sum((lam - md) ** 2)) / norm) if norm > 0 else 0.0
    return {"fa": fa, "md_mm2_s": md, "ad_mm2_s": float(lam[0]), "rd_mm2_s": float(lam[1:].mean())}


def _axisymmetric_tensor_lps(eigenvalues: tuple[float, ...], axis_lps: np.ndarray) -> np.ndarray:
    """3x3 tensor with eigenvalue[0] along ``axis_lps`` and the mean of the others across it."""
    axis = axis_lps / np.linalg.norm(axis_lps)
    parallel = np.outer(axis, axis)
    radial = 0.5 * (eigenvalues[1] + eigenvalues[2])
    return eigenvalues[0] * parallel + radial * (np.eye(3) - parallel)


def _compartment_fractions(
    centres_lps: np.ndarray,
    spacing_mm: np.ndarray,
    cord_centre_lps: np.ndarray,
    u_axis: np.ndarray,
    v_axis: np.ndarray,
    section: CordSection,
    sac_semi_mm: tuple[float, float],
    lesion_side: str,
    lesion_z_range_mm: tuple[float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fractions of each tissue per voxel, plus the fraction of lesion and of mirrored-lesion footprint.

    The anatomy does not change along the cord (z) except for the lesion's extent, so the in-plane
    fractions are integrated on sub-pixels of at most ``SUBPIXEL_MM`` (a 1.6 mm lesion then has its
    area within about 0.1 %) and the lesion's share of each slice's thickness is exact.

    Returns (fractions (5, I, J, K), lesion_fraction, homolog_fraction).
    """
    shape = centres_lps.shape[:3]
    n_sub = np.maximum(1, np.ceil(spacing_mm[:2] / SUBPIXEL_MM - 1e-9).astype(int))
    offsets = [((np.arange(n) + 0.5) / n - 0.5) * step for n, step in zip(n_sub, spacing_mm[:2], strict=True)]
    plane = centres_lps[:, :, 0, :2] - cord_centre_lps[:2]
    # Sub-pixel points (I, J, a, b) in the cord frame; the grid is axis-aligned (diagonal affine in LPS).
    x = plane[:, :, 0, None, None] + offsets[0][:, None]
    y = plane[:, :, 1, None, None] + offsets[1][None, :]
    u = x * u_axis[0] + y * u_axis[1]
    v = x * v_axis[0] + y * v_axis[1]
    other = "right" if lesion_side == "left" else "left"
    tissue = np.full(u.shape, _SOFT, dtype=np.int8)
    tissue[(u / sac_semi_mm[0]) ** 2 + (v / sac_semi_mm[1]) ** 2 <= 1.0] = _CSF
    tissue[section.cord(u, v)] = _WM
    tissue[section.grey_matter(u, v)] = _GM
    healthy = np.stack([(tissue == code).mean(axis=(2, 3)) for code in range(5)])
    lesion_2d = section.lesion(u, v, lesion_side).mean(axis=(2, 3))
    mirror_2d = section.lesion(u, v, other).mean(axis=(2, 3))
    # Share of each slice's thickness inside the lesion's craniocaudal range.
    z = centres_lps[0, 0, :, 2] - cord_centre_lps[2]
    half = 0.5 * spacing_mm[2]
    low, high = lesion_z_range_mm
    in_z = np.clip(np.minimum(z + half, high) - np.maximum(z - half, low), 0.0, None) / spacing_mm[2]
    fractions = np.repeat(healthy[..., None], shape[2], axis=-1)
    lesion_frac = lesion_2d[..., None] * in_z
    fractions[_WM] -= lesion_frac  # the lesion lies in white matter only (CordSection.lesion)
    fractions[_LESION] = lesion_frac
    homolog_frac = mirror_2d[..., None] * in_z
    return fractions, lesion_frac, homolog_frac


def make_dwi_phantom(
    *,
    seed: int = 0,
    snr: float | None = 30.0,
    cordotomy_side: str = "left",
    cord_offset_mm: tuple[float, float] = (0.0, 0.0),
    rotation_deg: float = 0.0,
    matrix: tuple[int, int, int] = (40, 40, 10),
    cord_ap_mm: float | None = None,
    cord_transverse_mm: float | None = None,
    seeds: Seeds | None = None,
) -> DwiPhantom:
    """Generate a post-cordotomy DWI phantom with known tensors.

    Parameters
    ----------
    seed : int
        Noise seed; the same arguments always give the same voxels.
    snr : float or None
        b=0 signal of the cord divided by the noise standard deviation; ``None`` gives noise-free data.
    cordotomy_side : {"left", "right"}
        Side of the ablation lesion (contralateral to the pain).
    cord_offset_mm : (float, float)
        Cord centre minus image centre along LPS x and y, so that the image centre is not the cord midline.
    rotation_deg : float
        In-plane rotation of the cord's anatomy about its own axis (positive from +x towards +y).
    matrix : (int, int, int)
        Voxels along x, y and slices; in-plane and slice spacing come from the seeds (0.8 x 0.8 x 4 mm).
    cord_ap_mm, cord_transverse_mm : float, optional
        Cord size; defaults from ``seeds/anatomy.yaml``.
    seeds : Seeds, optional
        Parameters; defaults to :func:`pipeline.seeds.load_seeds`.

    Returns
    -------
    DwiPhantom
    """
    side_sign(cordotomy_side)  # validates
    seeds = seeds if seeds is not None else load_seeds()
    in_plane = seeds.number("diffusion.dwi_protocol.in_plane_mm")
    thickness = seeds.number("diffusion.dwi_protocol.slice_mm")
    b_value = seeds.number("diffusion.dwi_protocol.b_value_s_mm2")
    n_dirs = seeds.integer("diffusion.dwi_protocol.directions")
    n_b0 = seeds.integer("diffusion.dwi_protocol.b0_volumes")
    section = CordSection(
        ap_mm=cord_ap_mm if cord_ap_mm is not None else seeds.number("anatomy.cord.ap_mm"),
        transverse_mm=(
            cord_transverse_mm
            if cord_transverse_mm is not None
            else seeds.number("anatomy.cord.transverse_mm")
        ),
        lesion_radius_mm=seeds.number("diffusion.lesion_radius_mm"),
    )
    sac_semi = (
        seeds.number("anatomy.dural_sac.transverse_mm") / 2.0,
        seeds.number("anatomy.dural_sac.ap_mm") / 2.0,
    )

    # Grid: axial slices, rows along +x (L), columns along +y (P), slices towards +z (S); centred on 0.
    spacing = np.array([in_plane, in_plane, thickness])
    shape = tuple(int(n) for n in matrix)
    affine = axial_grid_affine(np.zeros(3), shape, tuple(spacing))  # type: ignore[arg-type]
    grid = np.stack(np.meshgrid(*(np.arange(n) for n in shape), indexing="ij"), axis=-1)
    centres = grid @ affine[:3, :3].T + affine[:3, 3]

    theta = np.deg2rad(rotation_deg)
    u_axis = np.array([np.cos(theta), np.sin(theta), 0.0])
    v_axis = np.array([-np.sin(theta), np.cos(theta), 0.0])
    cord_axis = np.array([0.0, 0.0, 1.0])
    cord_centre = np.array([cord_offset_mm[0], cord_offset_mm[1], 0.0])
    # Lesion over the two central slices (about 8 mm craniocaudal: lesion plus oedema on follow-up DWI).
    lesion_z = (-thickness, thickness)

    fractions, lesion_frac, homolog_frac = _compartment_fractions(
        centres, spacing, cord_centre, u_axis, v_axis, section, sac_semi, cordotomy_side, lesion_z
    )

    # Tensors (LPS) and b=0 signals (relative T2 weighting: CSF bright, lesion mildly hyperintense).
    wm = seeds.numbers("diffusion.white_matter_eigenvalues_mm2_s")
    gm = seeds.numbers("diffusion.grey_matter_eigenvalues_mm2_s")
    lesion = seeds.numbers("diffusion.lesion_eigenvalues_mm2_s")
    csf = seeds.number("diffusion.csf_diffusivity_mm2_s")
    soft = seeds.number("diffusion.soft_tissue_diffusivity_mm2_s")
    tensors = np.stack(
        [
            soft * np.eye(3),
            csf * np.eye(3),
            _axisymmetric_tensor_lps(wm, cord_axis),
            _axisymmetric_tensor_lps(gm, cord_axis),
            _axisymmetric_tensor_lps(lesion, cord_axis),
        ]
    )
    s0 = np.array([450.0, 1800.0, 1000.0, 1100.0, 1250.0])

    directions = np.concatenate([np.zeros((n_b0, 3)), fibonacci_hemisphere(n_dirs)])
    bvals = np.concatenate([np.zeros(n_b0), np.full(n_dirs, b_value)])
    # Compartment signal for each gradient: S0 exp(-b gᵀDg), shape (tissues, volumes).
    quadratic = np.einsum("ni,tij,nj->tn", directions, tensors, directions)
    compartment = s0[:, None] * np.exp(-bvals[None, :] * quadratic)
    signal = np.einsum("tijk,tn->ijkn", fractions, compartment)

    if snr is not None:
        sigma = s0[_WM] / float(snr)
        rng = np.random.default_rng(seed)
        real = signal + rng.normal(0.0, sigma, signal.shape)
        imaginary = rng.normal(0.0, sigma, signal.shape)
        signal = np.hypot(real, imaginary)

    cord_mask = (fractions[_WM] + fractions[_GM] + fractions[_LESION]) > 0.5
    lesion_mask = lesion_frac >= 1.0 - 1e-9
    # Pure healthy white matter within the mirrored footprint (GM is spared by the lesion's definition).
    homolog_mask = (homolog_frac >= 1.0 - 1e-9) & (fractions[_WM] >= 1.0 - 1e-9)

    truth_lesion = tensor_scalars(lesion)
    truth_homolog = tensor_scalars(wm)
    change = {
        name: 100.0 * (truth_lesion[key] - truth_homolog[key]) / truth_homolog[key]
        for name, key in (("fa", "fa"), ("md", "md_mm2_s"), ("ad", "ad_mm2_s"), ("rd", "rd_mm2_s"))
    }
    lesion_centre_u, lesion_centre_v = section.lesion_centre_mm(cordotomy_side)
    voxel_mm3 = float(np.prod(spacing))
    truth: dict[str, Any] = {
        "lesion": {
            **truth_lesion,
            "voxels": int(lesion_mask.sum()),
            "volume_mm3": float(lesion_mask.sum()) * voxel_mm3,
        },
        "homolog": {
            **truth_homolog,
            "voxels": int(homolog_mask.sum()),
            "volume_mm3": float(homolog_mask.sum()) * voxel_mm3,
        },
        "tissues_mm2_s": {
            "white_matter": list(wm),
            "grey_matter": list(gm),
            "lesion": list(lesion),
            "csf": [csf] * 3,
            "soft_tissue": [soft] * 3,
        },
        "cord_centre_lps_mm": cord_centre.tolist(),
        "cord_axis_lps": cord_axis.tolist(),
        "left_axis_lps": u_axis.tolist(),
        "posterior_axis_lps": v_axis.tolist(),
        "lesion_centre_lps_mm": (cord_centre + lesion_centre_u * u_axis + lesion_centre_v * v_axis).tolist(),
        "lesion_z_range_lps_mm": list(lesion_z),
        "lesion_cord_fraction_percent": 100.0
        * float(lesion_frac.sum())
        / float(
            (fractions[_WM] + fractions[_GM] + fractions[_LESION])[
                ..., lesion_frac.sum(axis=(0, 1)) > 0
            ].sum()
        ),
        "cord_ap_mm": section.ap_mm,
        "cord_transverse_mm": section.transverse_mm,
        "snr": snr,
        "noise_sigma": None if snr is None else float(s0[_WM] / float(snr)),
        "seed": seed,
        "lesion_side": cordotomy_side,
        "pain_side": "right" if cordotomy_side == "left" else "left",
    }
    volume = Volume(
        signal.astype(np.float32),
        affine,
        Provenance(source="phantom", modality="MR", description="DWI cord 20dir b1000 (phantom)"),
    )
    return DwiPhantom(
        volume=volume,
        bvals_s_mm2=bvals,
        bvecs=fsl_bvecs_from_lps(directions, affine),
        directions_lps=directions,
        cord_mask=cord_mask,
        lesion_mask=lesion_mask,
        homolog_mask=homolog_mask,
        lesion_fraction=lesion_frac,
        homolog_fraction=homolog_frac,
        truth=truth,
        change_percent=change,
        lesion_side=cordotomy_side,
    )
