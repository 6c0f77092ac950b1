"""The C1-C2 planning level and the anatomical frame built on it from the cord and C1/C2.

The percutaneous needle passes laterally between the C1 posterior arch and the C2 lamina (Mullan 1963;
Rosomoff's coronal-plane variant; domain-facts §4), so the planning level is the middle of the C1-C2
interlaminar space: half-way, along the cord, between the lowest point of the C1 posterior arch and the
highest point of the C2 laminae in the posterior midline. The frame's origin is the cord centre there.
"""

from __future__ import annotations

import numpy as np

from pipeline.myelogram.bone import Vertebrae
from pipeline.myelogram.cord import CordSegmentation
from pipeline.myelogram.frame import AnatomicalFrame, build_frame, centerline_direction, cord_posterior
from pipeline.volume import Volume


def centerline_point_at_height(
    centerline_lps_mm: np.ndarray, reference_lps_mm: np.ndarray, superior_lps: np.ndarray, height_mm: float
) -> np.ndarray:
    """Point of the centerline at a given height (along ``superior_lps``) above a reference point."""
    heights = (centerline_lps_mm - reference_lps_mm) @ superior_lps
    order = np.argsort(heights)
    return np.array([np.interp(height_mm, heights[order], centerline_lps_mm[order, a]) for a in range(3)])


def atlas_posterior(vertebrae: Vertebrae, affine_lps: np.ndarray, superior: np.ndarray) -> np.ndarray | None:
    """Posterior direction from the atlas: the short in-plane principal axis of C1.

    C1 is bilaterally symmetric and much wider (transverse processes ~70 mm apart) than deep, so the long
    axis of its voxels, seen along the cord, is left-right and the short one anteroposterior. Unlike the
    dens-to-cord direction this does not move when the cord is displaced inside the sac.
    """
    index = np.argwhere(vertebrae.c1_mask)[::4]
    if len(index) < 50:
        return None
    points = Volume(vertebrae.c1_mask, affine_lps).index_to_lps(index)
    centred = points - points.mean(axis=0)
    centred = centred - np.outer(centred @ superior, superior)
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    if singular[1] < 1e-6 or singular[0] < 1.3 * singular[1]:
        return None  # not clearly elongated: no reliable axis
    posterior = np.cross(superior, vt[0])
    return posterior / np.linalg.norm(posterior)


def planning_frame(
    cord: CordSegmentation, vertebrae: Vertebrae, affine_lps: np.ndarray | None = None
) -> AnatomicalFrame:
    """Anatomical frame at the C1-C2 planning level (CT myelogram with C1 and C2 found)."""
    superior = centerline_direction(cord.centerline_lps_mm)
    arch = vertebrae.c1_arch_inferior_lps_mm
    lamina = vertebrae.c2_lamina_superior_lps_mm
    middle_height = 0.5 * float(np.dot(lamina - arch, superior))
    origin = centerline_point_at_height(cord.centerline_lps_mm, arch, superior, middle_height)
    superior = centerline_direction(cord.centerline_lps_mm, near_lps_mm=origin)
    origin = centerline_point_at_height(
        cord.centerline_lps_mm, arch, superior, 0.5 * float(np.dot(lamina - arch, superior))
    )
    # Posterior: the atlas's short axis (signed from the dens towards the cord); without it, from the
    # dens to the cord.
    dens_to_cord = origin - vertebrae.dens_center_lps_mm
    posterior = atlas_posterior(vertebrae, affine_lps, superior) if affine_lps is not None else None
    if posterior is None:
        return build_frame(origin, superior, dens_to_cord, "dens")
    if np.dot(posterior, dens_to_cord) < 0:
        posterior = -posterior
    return build_frame(origin, superior, posterior, "atlas")


def cord_frame(cord: CordSegmentation, *, at_lps_mm: np.ndarray | None = None) -> AnatomicalFrame:
    """Frame from the cord alone (MRI, or no C1/C2): origin at the middle of the segmented cord."""
    centerline = cord.centerline_lps_mm
    origin = centerline[len(centerline) // 2] if at_lps_mm is None else np.asarray(at_lps_mm, dtype=float)
    superior = centerline_direction(centerline, near_lps_mm=origin)
    posterior = cord_posterior(cord, superior)
    return build_frame(origin, superior, posterior, "cord_shape")


# Parasagittal corridor of the C1-C2 interlaminar window (frame mm): lateral to the midline spinous
# process and posterior tubercle, and dorsal to the cord's equator by 2 mm, out to the laminae. Further
# ventrally the C1 lateral masses and the C2 superior articular processes (not the laminae) bound the gap;
# a corridor reaching them measured the facet gap on one side and the laminar gap on the other.
WINDOW_X_MM = (7.0, 24.0)
WINDOW_Y_MM = (2.0, 14.0)
# Columns (of this size, mm) of the corridor are measured separately; the window's bounds are the
# highest C2 column top and the lowest C1 column bottom, each ignoring this percentage of columns (stray
# voxels, a column grazing an articular process).
WINDOW_COLUMN_MM = 1.0
WINDOW_EXTREME_PERCENT = 5.0


def interlaminar_windows(
    vertebrae: Vertebrae, frame: AnatomicalFrame, affine_lps: np.ndarray
) -> dict[str, dict[str, object]]:
    """The C1-C2 interlaminar window on each side: the bone-free gap between the C2 lamina and C1's arch.

    In the corridor each side (``WINDOW_X_MM``, ``WINDOW_Y_MM``), every 1 mm column along the cord gives
    the highest C2 bone below the planning level and the lowest C1 bone above it; the window runs from
    the 95th percentile of the C2 tops to the 5th percentile of the C1 bottoms. The corridor stays dorsal
    to the articular processes: reaching them, it measured the facet gap on one side and the laminar gap
    on the other (6.4 vs 10.4 mm on a symmetric phantom whose window is 11.5 mm). Heights are along the
    frame's superior axis.
    """
    result: dict[str, dict[str, object]] = {}
    pieces = {}
    for name, mask in (("C1", vertebrae.c1_mask), ("C2", vertebrae.c2_mask)):
        index = np.argwhere(mask)
        points = Volume(mask, affine_lps).index_to_lps(index)
        pieces[name] = frame.to_frame(points)
    for side, sign in (("left", 1.0), ("right", -1.0)):
        columns = {}
        for name, keep_above in (("C2", False), ("C1", True)):
            local = pieces[name]
            x, y, z = sign * local[:, 0], local[:, 1], local[:, 2]
            inside = (
                (x >= WINDOW_X_MM[0]) & (x <= WINDOW_X_MM[1]) & (y >= WINDOW_Y_MM[0]) & (y <= WINDOW_Y_MM[1])
            )
            inside &= (z >= 0.0) if keep_above else (z <= 0.0)
            cx = np.floor((x[inside] - WINDOW_X_MM[0]) / WINDOW_COLUMN_MM).astype(int)
            cy = np.floor((y[inside] - WINDOW_Y_MM[0]) / WINDOW_COLUMN_MM).astype(int)
            n_y = int(np.ceil((WINDOW_Y_MM[1] - WINDOW_Y_MM[0]) / WINDOW_COLUMN_MM)) + 1
            key = cx * n_y + cy
            height = z[inside]
            extreme = np.full(int(key.max()) + 1 if key.size else 0, np.nan)
            if key.size:
                if keep_above:
                    extreme[:] = np.inf
                    np.minimum.at(extreme, key, height)
                    extreme[np.isinf(extreme)] = np.nan
                else:
                    extreme[:] = -np.inf
                    np.maximum.at(extreme, key, height)
                    extreme[np.isinf(extreme)] = np.nan
            columns[name] = extreme
        tops_c2 = columns["C2"][np.isfinite(columns["C2"])]
        bottoms_c1 = columns["C1"][np.isfinite(columns["C1"])]
        if len(tops_c2) == 0 or len(bottoms_c1) == 0:
            continue
        bottom = float(np.percentile(tops_c2, 100.0 - WINDOW_EXTREME_PERCENT))
        top = float(np.percentile(bottoms_c1, WINDOW_EXTREME_PERCENT))
        x_mid = sign * 0.5 * (WINDOW_X_MM[0] + WINDOW_X_MM[1])
        y_mid = 0.5 * (WINDOW_Y_MM[0] + WINDOW_Y_MM[1])
        result[side] = {
            "inferior_lps_mm": [float(v) for v in frame.to_lps(np.array([x_mid, y_mid, bottom]))],
            "superior_lps_mm": [float(v) for v in frame.to_lps(np.array([x_mid, y_mid, top]))],
            "height_mm": round(top - bottom, 3),
        }
    return result
