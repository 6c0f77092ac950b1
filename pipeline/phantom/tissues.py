"""Tissue values: CT Hounsfield units and 3D T2 MR intensities for the region masks.

CT numbers come from ``seeds/ct.yaml`` (domain-facts §6). T2 intensities are relative (no absolute scale
exists for MR): fluid bright, fat intermediate-bright on fast spin echo, cord and muscle dark-intermediate,
cortical bone and flowing blood signal-free (flow void); standard appearance on 3D T2 SPACE/CUBE.
"""

from __future__ import annotations

import numpy as np

from pipeline.phantom.anatomy import Regions
from pipeline.seeds import Seeds

__all__ = ["ct_hu_map", "t2_signal_map"]


def ct_hu_map(
    regions: Regions,
    bone_depth_mm: np.ndarray,
    y_mm: np.ndarray,
    z_mm: np.ndarray,
    seeds: Seeds,
    *,
    intrathecal_contrast: bool,
    enhanced_vessels: bool,
    sac_anterior_mm: float,
    sac_ap_mm: float,
    muscle_texture: np.ndarray,
    trabecular_texture: np.ndarray,
) -> np.ndarray:
    """Noise-free, unblurred HU at each voxel centre.

    ``muscle_texture`` and ``trabecular_texture`` are unit-variance fields for tissue heterogeneity.
    ``bone_depth_mm`` is the depth below the bone surface: the outer ``cortical_thickness_mm`` is cortical.
    Contrast-filled CSF rises from ventral to dorsal (dependent pooling, supine) and thins slightly
    cranially (injected by lumbar puncture).
    """

    def hu(name: str) -> float:
        return seeds.number(f"ct.hu.{name}")

    image = np.full(y_mm.shape, hu("muscle"), dtype=np.float32) + np.float32(6.0) * muscle_texture
    image[regions.fat] = hu("fat")
    image[regions.air] = hu("air")
    image[regions.epidural] = hu("epidural")
    image[regions.venous_plexus] = hu("unenhanced_vessel")
    image[regions.ligaments_soft] = hu("ligament")
    image[regions.disc] = hu("intervertebral_disc")
    if intrathecal_contrast:
        base = hu("csf_contrast")
        gradient = hu("csf_contrast_dorsal_gradient")
        depth = np.clip((y_mm + sac_anterior_mm) / sac_ap_mm, 0.0, 1.0)  # 0 ventral .. 1 dorsal
        csf = base + gradient * (depth - 0.5) - 1.5 * z_mm
        image[regions.sac] = csf[regions.sac]
    else:
        image[regions.sac] = hu("csf_plain")
    image[regions.cord] = hu("cord_white_matter")
    image[regions.grey_matter] = hu("cord_grey_matter")
    vessel = hu("enhanced_vessel") if enhanced_vessels else hu("unenhanced_vessel")
    image[regions.va_left | regions.va_right] = vessel
    image[regions.carotid] = vessel
    image[regions.jugular] = hu("unenhanced_vessel") + (
        0.3 * (vessel - hu("unenhanced_vessel"))
    )  # venous lag
    bone = regions.bone
    cortical = bone & (bone_depth_mm <= seeds.number("ct.cortical_thickness_mm"))
    image[bone] = hu("cancellous_bone") + np.float32(70.0) * trabecular_texture[bone]
    image[cortical] = hu("cortical_bone")
    return image


def t2_signal_map(regions: Regions, bone_depth_mm: np.ndarray) -> np.ndarray:
    """Relative 3D T2 signal (arbitrary units, 0-1000)."""
    image = np.full(bone_depth_mm.shape, 180.0, dtype=np.float32)  # muscle
    image[regions.fat] = 620.0
    image[regions.air] = 0.0
    image[regions.epidural] = 520.0
    image[regions.venous_plexus] = 450.0
    image[regions.ligaments_soft] = 90.0
    image[regions.disc] = 300.0
    image[regions.sac] = 950.0
    image[regions.cord] = 330.0
    image[regions.grey_matter] = 380.0
    bone = regions.bone
    image[bone] = 260.0  # marrow
    image[bone & (bone_depth_mm <= 1.2)] = 15.0  # cortex: no signal
    image[regions.va_left | regions.va_right] = 20.0  # flow void
    image[regions.carotid] = 20.0
    image[regions.jugular] = 420.0  # slow venous flow: intermediate signal
    return image
