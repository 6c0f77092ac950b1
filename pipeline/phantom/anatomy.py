"""Solid anatomy of the upper cervical spine (foramen magnum to C3) as region masks.

All shapes live in the anatomical frame (mm): ``x`` to the patient's left, ``y`` posterior, ``z`` superior,
origin at the cord centre on the C1-C2 planning level; the CT/MR generators map their voxel grids into
this frame (a rigid head pose) and evaluate the masks. Dimensions follow adult morphometry (domain-facts
§1): C1 canal 30 mm from the fovea dentis to the posterior arch (CT, n=567), C2 canal about 18 mm sagittal
and 21.6 mm transverse, dural sac 15 x 20 mm, cord 8.5 x 12 mm; V3 course in :mod:`vessels`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.phantom.cord_section import CordSection
from pipeline.phantom.shapes import box, ellipsoid, elliptic_cylinder_z, near_polyline_distance_mm
from pipeline.phantom.vessels import vertebral_artery_path

__all__ = ["Anatomy", "Regions", "evaluate_regions"]

# Vertical landmarks of the model (anatomical z, mm).
C1_POSTERIOR_ARCH_Z = (6.5, 15.0)
C2_LAMINA_TOP_Z = -5.0
C1_TRANSVERSE_FORAMEN_XY = (27.0, -7.5)


@dataclass(frozen=True)
class Anatomy:
    """Parameters of one patient's anatomy.

    Attributes
    ----------
    cord : CordSection
        Cord cross-section at the planning level.
    cord_shift_mm : float
        Lateral displacement of the cord inside the dural sac (+ towards the left); the primary reference
        saw the cord displaced laterally in all three cases.
    sac_ap_mm, sac_transverse_mm : float
        Dural sac diameters (EST 15 x 20 mm).
    va_courses : dict
        ``{"left": course, "right": course}`` with courses from :data:`vessels.VA_COURSES`.
    va_diameter_mm : float
    ligament_thickness_mm, ligament_dorsal_offset_mm : float
        Dentate ligament sheet (EST 0.2 mm, 0.5 mm dorsal to the transverse diameter).
    """

    cord: CordSection = field(default_factory=CordSection)
    cord_shift_mm: float = 0.0
    sac_ap_mm: float = 15.0
    sac_transverse_mm: float = 20.0
    va_courses: dict[str, str] = field(default_factory=lambda: {"left": "normal", "right": "normal"})
    va_diameter_mm: float = 4.5
    ligament_thickness_mm: float = 0.2
    ligament_dorsal_offset_mm: float = 0.5

    def cord_scale(self, z: np.ndarray) -> np.ndarray:
        """Cord size relative to the planning level: widening towards the medulla above C1."""
        return 1.0 + 0.12 * np.clip((np.asarray(z) - 14.0) / 12.0, 0.0, 1.0)

    def sac_semi_axes(self, z: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(transverse, anterior, posterior) semi-axes; the posterior one opens into the cisterna magna."""
        z = np.asarray(z)
        lateral = self.sac_transverse_mm / 2.0 + 0.15 * np.clip(z - 14.0, 0.0, None)
        anterior = 0.47 * self.sac_ap_mm + 0.0 * z
        posterior = 0.53 * self.sac_ap_mm + 0.55 * np.clip(z - 12.0, 0.0, None)
        return lateral, anterior, posterior

    def va_path(self, side: str) -> np.ndarray:
        return vertebral_artery_path(1.0 if side == "left" else -1.0, self.va_courses[side])


@dataclass
class Regions:
    """Boolean masks (same shape as the coordinates) and a few continuous fields."""

    c1: np.ndarray
    c2: np.ndarray
    other_bone: np.ndarray
    disc: np.ndarray
    sac: np.ndarray
    cord: np.ndarray
    grey_matter: np.ndarray
    va_left: np.ndarray
    va_right: np.ndarray
    ligament_band: np.ndarray
    ligament_distance_mm: np.ndarray
    epidural: np.ndarray
    venous_plexus: np.ndarray
    fat: np.ndarray
    air: np.ndarray
    ligaments_soft: np.ndarray

    @property
    def bone(self) -> np.ndarray:
        return self.c1 | self.c2 | self.other_bone


def _c1(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Atlas: ring (anterior arch, posterior arch), lateral masses, transverse processes with foramina."""
    outer = ((x / 23.0) ** 2 + ((y + 4.0) / 20.0) ** 2) <= 1.0
    inner = ((x / 14.0) ** 2 + ((y + 5.0) / 15.0) ** 2) <= 1.0
    front = y <= -5.0
    ring_z = np.where(
        front, (z >= 7.0) & (z <= 17.0), (z >= C1_POSTERIOR_ARCH_Z[0]) & (z <= C1_POSTERIOR_ARCH_Z[1])
    )
    ring = outer & ~inner & ring_z
    ax = np.abs(x)
    lateral_masses = ellipsoid(ax, y, z, (18.5, -9.0, 11.0), (6.5, 9.0, 8.5))
    posterior_tubercle = ellipsoid(x, y, z, (0.0, 16.0, 10.5), (5.0, 3.0, 4.5))
    anterior_tubercle = ellipsoid(x, y, z, (0.0, -23.5, 12.0), (4.0, 2.0, 4.0))
    transverse = box(ax, y, z, (21.0, 35.0), (-12.0, -3.5), (7.5, 14.0))
    foramen = elliptic_cylinder_z(ax, y, z, C1_TRANSVERSE_FORAMEN_XY, (3.2, 3.2), (0.0, 20.0))
    return (ring | lateral_masses | posterior_tubercle | anterior_tubercle | transverse) & ~foramen


def _c2(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Axis: body, dens, pedicles/pars, superior and inferior articular processes, laminae, spinous
    process (bifid), transverse processes (foramina are carved by the artery itself)."""
    ax = np.abs(x)
    body = elliptic_cylinder_z(x, y, z, (0.0, -16.5), (8.0, 7.0), (-22.0, 1.0))
    body_rounding = ~(((z + 22.0) < 1.5) & ((x / 8.0) ** 2 + ((y + 16.5) / 7.0) ** 2 > 0.75))
    dens = elliptic_cylinder_z(x, y, z, (0.0, -14.5), (4.5, 4.75), (0.0, 15.0)) | ellipsoid(
        x, y, z, (0.0, -14.5, 15.0), (4.5, 4.75, 4.0)
    )
    pedicles = box(ax, y, z, (9.0, 15.0), (-12.0, 2.0), (-14.0, -3.0))
    superior_facets = ellipsoid(ax, y, z, (17.0, -9.0, -2.0), (6.0, 8.0, 4.5))
    inferior_facets = ellipsoid(ax, y, z, (15.5, 2.0, -19.0), (5.0, 6.5, 4.0))
    outer = (x / 16.0) ** 2 + ((y + 3.0) / 17.0) ** 2 <= 1.0
    inner = (x / 11.5) ** 2 + ((y + 3.0) / 12.0) ** 2 <= 1.0
    laminae = outer & ~inner & (y >= -1.0) & (z >= -18.0) & (z <= C2_LAMINA_TOP_Z)
    spinous = box(ax, y, z, (0.0, 4.5), (12.0, 30.0), (-19.0, -8.0)) & ~(
        (ax < 1.2) & (y > 25.0)  # bifid tip
    )
    transverse = box(ax, y, z, (17.0, 28.0), (-13.0, -4.0), (-13.0, -6.0))
    return (
        (body & body_rounding)
        | dens
        | pedicles
        | superior_facets
        | inferior_facets
        | laminae
        | spinous
        | transverse
    )


def _subaxial(x: np.ndarray, y: np.ndarray, z: np.ndarray, top_z: float) -> np.ndarray:
    """A generic C3-C7 vertebra whose body top is at ``top_z`` (height 13 mm)."""
    ax = np.abs(x)
    bottom = top_z - 13.0
    body = elliptic_cylinder_z(x, y, z, (0.0, -17.0), (8.5, 7.5), (bottom, top_z))
    pedicles = box(ax, y, z, (8.5, 13.5), (-11.0, -3.0), (bottom + 4.0, top_z - 3.0))
    pillars = elliptic_cylinder_z(ax, y, z, (16.0, 0.0), (5.0, 6.0), (bottom - 1.0, top_z + 1.0))
    outer = (x / 15.0) ** 2 + ((y + 2.0) / 15.0) ** 2 <= 1.0
    inner = (x / 11.0) ** 2 + ((y + 2.0) / 10.5) ** 2 <= 1.0
    laminae = outer & ~inner & (y >= 0.0) & (z >= bottom - 1.0) & (z <= top_z - 3.0)
    spinous = box(ax, y, z, (0.0, 3.0), (12.0, 24.0), (bottom - 2.0, top_z - 5.0))
    transverse = box(ax, y, z, (13.0, 24.0), (-15.0, -6.0), (bottom + 3.0, top_z - 3.0))
    return body | pedicles | pillars | laminae | spinous | transverse


def _occiput(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Occipital bone around the foramen magnum, with the condyles resting on the C1 lateral masses."""
    floor = 23.0 - 0.06 * y
    slab = (z >= floor) & ((x / 40.0) ** 2 + ((y + 2.0) / 40.0) ** 2 <= 1.0)
    foramen_magnum = (x / 15.0) ** 2 + ((y + 3.0) / 18.0) ** 2 <= 1.0
    condyles = ellipsoid(np.abs(x), y, z, (15.0, -8.0, 23.5), (6.0, 9.0, 3.5))
    return (slab & ~foramen_magnum) | condyles


def evaluate_regions(x: np.ndarray, y: np.ndarray, z: np.ndarray, anatomy: Anatomy) -> Regions:
    """Evaluate every structure at the given anatomical coordinates (float arrays of one shape).

    Precedence: arteries carve bone (foramina, grooves); bone wins over soft tissue; the cord wins over
    CSF; the ligament is a sub-voxel sheet reported as a distance field inside its band.
    """
    shape = x.shape
    ax = np.abs(x)
    c1 = _c1(x, y, z)
    c2 = _c2(x, y, z)
    other = _occiput(x, y, z)
    for top in (-25.0, -41.0, -57.0, -73.0):
        other |= _subaxial(x, y, z, top)
    disc = np.zeros(shape, dtype=bool)
    for top, bottom in ((-22.0, -25.0), (-38.0, -41.0), (-54.0, -57.0), (-70.0, -73.0)):
        disc |= elliptic_cylinder_z(x, y, z, (0.0, -16.8), (8.3, 7.3), (bottom, top))

    # Arteries: distance to each centreline, evaluated only near the path (cheap).
    radius = anatomy.va_diameter_mm / 2.0
    va = {}
    carve = np.zeros(shape, dtype=bool)
    for side in ("left", "right"):
        path = anatomy.va_path(side)
        near = (
            (x >= path[:, 0].min() - 4.0)
            & (x <= path[:, 0].max() + 4.0)
            & (y >= path[:, 1].min() - 4.0)
            & (y <= path[:, 1].max() + 4.0)
            & (z >= path[:, 2].min() - 4.0)
            & (z <= path[:, 2].max() + 4.0)
        )
        index = np.nonzero(near)
        points = np.stack([x[index], y[index], z[index]], axis=1)
        distance = near_polyline_distance_mm(points, path, radius + 1.0)
        lumen = np.zeros(shape, dtype=bool)
        lumen[index] = distance <= radius
        wall = np.zeros(shape, dtype=bool)
        wall[index] = distance <= radius + 0.8  # vessel wall + venous cuff keep bone away
        va[side] = lumen
        carve |= wall
    c1 &= ~carve
    c2 &= ~carve & ~c1
    other &= ~carve & ~c1 & ~c2
    bone = c1 | c2 | other

    # Thecal sac and cord.
    lateral, anterior, posterior = anatomy.sac_semi_axes(z)
    sac_y = np.where(y >= 0.5, posterior, anterior)
    sac = ((x / lateral) ** 2 + ((y - 0.5) / sac_y) ** 2 <= 1.0) & ~bone
    scale = anatomy.cord_scale(z)
    u = (x - anatomy.cord_shift_mm) / scale
    v = y / scale
    cord = anatomy.cord.cord(u, v) & sac
    grey = anatomy.cord.grey_matter(u, v) & cord

    # Dentate ligament: sheet at v = dorsal offset, from the pial surface to the dura, both sides.
    ligament_v = anatomy.ligament_dorsal_offset_mm
    ligament_distance = (y - ligament_v * scale).astype(np.float32)
    ligament_band = sac & ~cord & (np.abs(ligament_distance) <= 1.5) & (np.abs(z) <= 40.0)

    # Soft tissues around the canal.
    canal = ((x / 14.5) ** 2 + ((y + 1.0) / 12.5) ** 2 <= 1.0) & (z <= 22.0)
    epidural = canal & ~sac & ~bone
    venous = epidural & (y < -5.5)
    ligaments_soft = (
        ellipsoid(x, y, z, (0.0, -10.5, 10.0), (10.0, 1.6, 9.0))  # transverse ligament / tectorial membrane
        & ~sac
        & ~bone
    )
    fat = (
        (ax < 1.0) & (y > 17.0)  # nuchal midline
        | (np.abs(np.hypot(x / 30.0, (y - 12.0) / 30.0) - 1.0) < 0.05) & (y > 14.0)  # intermuscular planes
        | (np.abs(np.hypot(x / 40.0, (y - 14.0) / 38.0) - 1.0) < 0.035) & (y > 10.0)
        | ellipsoid(ax, y, z, (22.0, 8.0, 9.0), (7.0, 6.0, 8.0))  # suboccipital triangle fat
        | (y > 41.0)  # subcutaneous fat
    ) & ~bone
    air = ((x / 15.0) ** 2 + ((y + 42.0) / 6.5) ** 2 <= 1.0) & ~bone
    return Regions(
        c1=c1,
        c2=c2,
        other_bone=other,
        disc=disc & ~bone,
        sac=sac,
        cord=cord,
        grey_matter=grey,
        va_left=va["left"] & ~bone,
        va_right=va["right"] & ~bone,
        ligament_band=ligament_band,
        ligament_distance_mm=ligament_distance,
        epidural=epidural & ~sac,
        venous_plexus=venous,
        fat=fat,
        air=air,
        ligaments_soft=ligaments_soft,
    )
