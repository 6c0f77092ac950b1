"""Figures of the case report (matplotlib, Agg), returned as PNG bytes for embedding.

* :func:`path_reformats`: axial, coronal and sagittal reformats of the CT in the patient's anatomical
  frame along the planned needle path (resampled through the CT's LPS affine), with the cord, CSF, dentate
  ligament and vertebral-artery outlines, the needle, the pial entry and the target.
* :func:`impedance_profile`: the expected impedance against depth along the path.
* :func:`dti_panels`: trace-weighted image, MD ("ADC"), FA and colour FA with the lesion and homolog
  outlines, on the DWI slice holding most of the lesion.

Display convention (radiological): axial and coronal images show the patient's left on the viewer's
right, anterior up (axial) and superior up (coronal); sagittal images show anterior on the left.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from scipy import ndimage

from pipeline.contract import Label
from pipeline.volume import Volume

PIXEL_MM = 0.25
HALF_WIDTH_MM = 22.0
CT_WINDOW_HU = (-250.0, 900.0)
MIN_BAND_MM = 0.3  # display width of a zero-thickness layer in the impedance profile

# structure -> (labels, colour, legend text)
_OUTLINES: tuple[tuple[str, tuple[int, ...], str], ...] = (
    ("CSF", (int(Label.CSF), int(Label.DENTATE_LIGAMENT)), "#3fa7ff"),
    ("cord", (int(Label.CORD),), "#ffd400"),
    ("dentate ligament", (int(Label.DENTATE_LIGAMENT),), "#ff7f0e"),
    ("vertebral artery", (int(Label.LEFT_VERTEBRAL_ARTERY), int(Label.RIGHT_VERTEBRAL_ARTERY)), "#ff2d2d"),
)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight", facecolor="white")
    plt.close(figure)
    return buffer.getvalue()


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    if norm < 1e-9:
        raise ValueError("degenerate direction")
    return vector / norm


@dataclass(frozen=True)
class Plane:
    """An oblique image plane: pixel (row, column) -> ``centre + (c - n/2)·column_lps + (r - n/2)·row_lps``."""

    name: str
    centre_lps_mm: np.ndarray
    column_lps: np.ndarray
    row_lps: np.ndarray
    size: int

    def points_lps_mm(self) -> np.ndarray:
        offsets = (np.arange(self.size) - (self.size - 1) / 2.0) * PIXEL_MM
        rows, columns = np.meshgrid(offsets, offsets, indexing="ij")
        return self.centre_lps_mm + columns[..., None] * self.column_lps + rows[..., None] * self.row_lps

    def to_pixels(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """(N, 2) array of (column, row) pixel coordinates of LPS points projected onto the plane."""
        relative = np.atleast_2d(points_lps_mm) - self.centre_lps_mm
        centre = (self.size - 1) / 2.0
        return np.stack(
            [relative @ self.column_lps / PIXEL_MM + centre, relative @ self.row_lps / PIXEL_MM + centre],
            axis=1,
        )


def planes_along_path(plan: Mapping[str, Any], frame: Mapping[str, Any]) -> list[Plane]:
    """Axial, coronal and sagittal planes of the anatomical frame, tilted to hold the needle.

    The axial and coronal planes contain the whole path (skin entry to target); the sagittal plane is
    perpendicular to the needle through the target (the needle's own view).
    """
    direction = _unit(np.asarray(plan["direction_lps"], dtype=float))
    left = np.asarray(frame["left_lps"], dtype=float)
    posterior = np.asarray(frame["posterior_lps"], dtype=float)
    superior = np.asarray(frame["superior_lps"], dtype=float)
    target = np.asarray(plan["target_lps_mm"], dtype=float)
    skin = np.asarray(plan["skin_entry_lps_mm"], dtype=float)
    length_mm = float(np.linalg.norm(target - skin))
    beyond_mm = 18.0  # room beyond the target: the whole cord and the far side of the canal
    half_mm = max(HALF_WIDTH_MM, 0.5 * (length_mm + beyond_mm) + 3.0)
    size = round(2 * half_mm / PIXEL_MM) + 1
    middle = 0.5 * (skin + target + beyond_mm * direction)

    def in_plane(axis: np.ndarray, normal: np.ndarray) -> np.ndarray:
        return _unit(axis - np.dot(axis, normal) * normal)

    axial_normal = in_plane(superior, direction)
    axial_columns = in_plane(left, axial_normal)
    axial_rows = _unit(np.cross(axial_normal, axial_columns))
    axial_rows = axial_rows if np.dot(axial_rows, posterior) > 0 else -axial_rows
    coronal_normal = in_plane(posterior, direction)
    coronal_columns = in_plane(left, coronal_normal)
    coronal_rows = _unit(np.cross(coronal_normal, coronal_columns))
    coronal_rows = coronal_rows if np.dot(coronal_rows, -superior) > 0 else -coronal_rows
    sagittal_columns = in_plane(posterior, direction)
    sagittal_rows = _unit(np.cross(direction, sagittal_columns))
    sagittal_rows = sagittal_rows if np.dot(sagittal_rows, -superior) > 0 else -sagittal_rows
    sagittal_size = round(2 * HALF_WIDTH_MM / PIXEL_MM) + 1
    return [
        Plane("axial", middle, axial_columns, axial_rows, size),
        Plane("coronal", middle, coronal_columns, coronal_rows, size),
        Plane("sagittal", target, sagittal_columns, sagittal_rows, sagittal_size),
    ]


def _sample(volume: Volume, plane: Plane, *, order: int, cval: float) -> np.ndarray:
    index = volume.lps_to_index(plane.points_lps_mm().reshape(-1, 3))
    values = ndimage.map_coordinates(
        volume.array,
        index.T,
        output=np.float32 if order else volume.array.dtype,
        order=order,
        mode="constant",
        cval=cval,
        prefilter=False,
    )
    return values.reshape(plane.size, plane.size)


def _draw_outlines(axes: Any, labels: np.ndarray) -> None:
    for _, values, colour in _OUTLINES:
        mask = np.isin(labels, values).astype(float)
        if mask.any() and not mask.all():
            axes.contour(mask, levels=[0.5], colors=[colour], linewidths=1.0)


def path_reformats(
    plan: Mapping[str, Any],
    frame: Mapping[str, Any],
    labels: Volume,
    ct: Volume | None,
    *,
    arteries_estimated: bool,
) -> bytes:
    """Three reformats along the planned path as one PNG (see the module docstring)."""
    planes = planes_along_path(plan, frame)
    figure, axes_row = plt.subplots(1, 3, figsize=(13.5, 5.0))
    points = {
        "skin entry": np.asarray(plan["skin_entry_lps_mm"], dtype=float),
        "pial entry": np.asarray(plan["pial_entry_lps_mm"], dtype=float),
        "target": np.asarray(plan["target_lps_mm"], dtype=float),
        "ligament": np.asarray(plan["dentate_ligament_lps_mm"], dtype=float),
    }
    for axes, plane in zip(axes_row, planes, strict=True):
        label_image = _sample(labels, plane, order=0, cval=0)
        if ct is not None:
            image = _sample(ct, plane, order=1, cval=-1024.0)
            axes.imshow(
                image, cmap="gray", vmin=CT_WINDOW_HU[0], vmax=CT_WINDOW_HU[1], interpolation="bilinear"
            )
        else:
            axes.imshow(label_image, cmap="gray", vmin=0, vmax=10, interpolation="nearest")
        _draw_outlines(axes, label_image)
        pixels = {name: plane.to_pixels(point)[0] for name, point in points.items()}
        if plane.name == "sagittal":
            axes.plot(*pixels["target"], marker="+", color="#00ff66", markersize=14, mew=2)
            axes.plot(*pixels["ligament"], marker="o", color="#ff7f0e", markersize=5, mfc="none")
            axes.set_title("sagittal perpendicular to needle, through target (needle's view)", fontsize=10)
        else:
            axes.plot(
                [pixels["skin entry"][0], pixels["target"][0]],
                [pixels["skin entry"][1], pixels["target"][1]],
                color="#00ff66",
                linewidth=1.6,
            )
            axes.plot(*pixels["pial entry"], marker="o", color="white", markersize=4)
            axes.plot(*pixels["target"], marker="+", color="#00ff66", markersize=14, mew=2)
            axes.plot(*pixels["ligament"], marker="o", color="#ff7f0e", markersize=5, mfc="none")
            axes.set_title(f"{plane.name} along the needle", fontsize=10)
        _orientation_marks(axes, plane, frame)
        axes.set_xticks([])
        axes.set_yticks([])
    artery_text = "vertebral artery (ESTIMATED)" if arteries_estimated else "vertebral artery"
    handles = [
        Line2D([], [], color="#3fa7ff", label="CSF"),
        Line2D([], [], color="#ffd400", label="cord"),
        Line2D([], [], color="#ff7f0e", label="dentate ligament (○ attachment)"),
        Line2D([], [], color="#ff2d2d", label=artery_text),
        Line2D([], [], color="#00ff66", label="needle, + target"),
        Line2D(
            [], [], color="white", marker="o", linestyle="none", markeredgecolor="black", label="pial entry"
        ),
    ]
    figure.legend(handles=handles, loc="lower center", ncol=6, fontsize=9, frameon=False)
    figure.subplots_adjust(bottom=0.1, wspace=0.04)
    scale = "" if ct is not None else " (CT not available: labels only)"
    figure.suptitle(f"Reformats in the anatomical frame, {PIXEL_MM} mm pixels{scale}", fontsize=11)
    return _png(figure)


def _orientation_marks(axes: Any, plane: Plane, frame: Mapping[str, Any]) -> None:
    """Letters at the image edges naming the anatomical direction (L/R, A/P, S/I)."""
    axes_lps = {
        "L": np.asarray(frame["left_lps"], dtype=float),
        "P": np.asarray(frame["posterior_lps"], dtype=float),
        "S": np.asarray(frame["superior_lps"], dtype=float),
    }
    opposite = {"L": "R", "P": "A", "S": "I"}

    def letter(vector: np.ndarray) -> str:
        name = max(axes_lps, key=lambda k: abs(float(np.dot(vector, axes_lps[k]))))
        return name if np.dot(vector, axes_lps[name]) > 0 else opposite[name]

    n = plane.size
    style = {"color": "white", "fontsize": 9, "ha": "center", "va": "center", "weight": "bold"}
    axes.text(n - 12, n / 2, letter(plane.column_lps), **style)
    axes.text(12, n / 2, letter(-plane.column_lps), **style)
    axes.text(n / 2, n - 12, letter(plane.row_lps), **style)
    axes.text(n / 2, 12, letter(-plane.row_lps), **style)


def _ohm_text(low: float | None, high: float | None) -> str:
    if low is None and high is None:
        return "range not given"
    if low is None:
        return f"< {high:g} Ω"
    if high is None:
        return f"> {low:g} Ω"
    return f"{low:g}-{high:g} Ω"


def impedance_profile(expected: Sequence[Mapping[str, Any]], depths_mm: Mapping[str, Any]) -> bytes:
    """Expected impedance (ohm) against depth along the path, one band per tissue.

    The view starts 10 mm before the dura (the first millimetres of soft tissue carry no decision).
    """
    figure, axes = plt.subplots(figsize=(11.0, 3.0))
    finite = [float(v) for segment in expected for v in (segment.get("ohm_range") or []) if v is not None]
    top = 1.4 * max(finite) if finite else 1000.0
    colours = {"csf": "#3fa7ff", "pia": "#ff7f0e", "cord": "#ffd400"}
    left, right = 0.0, 1.0
    if expected:
        right = max(float(s["to_depth_mm"]) for s in expected) + 1.0
        left = min(float(s["from_depth_mm"]) for s in expected)
        dura = depths_mm.get("skin_to_dura")
        if dura is not None:
            left = max(left, float(dura) - 10.0)
    for segment in expected:
        low, high = ([*list(segment.get("ohm_range") or []), None, None])[:2]
        start, stop = float(segment["from_depth_mm"]), float(segment["to_depth_mm"])
        if stop - start < MIN_BAND_MM:  # a surface (the pia) has no thickness: draw it visible
            start, stop = 0.5 * (start + stop) - MIN_BAND_MM / 2, 0.5 * (start + stop) + MIN_BAND_MM / 2
        tissue = str(segment["tissue"])
        colour = next((c for k, c in colours.items() if k in tissue.lower()), "#cccccc")
        bottom = 0.0 if low is None else float(low)
        upper = top if high is None else float(high)
        axes.fill_between([start, stop], [bottom, bottom], [upper, upper], color=colour, alpha=0.6)
        visible = (max(start, left), min(stop, right))
        if visible[1] > visible[0]:
            axes.text(
                0.5 * sum(visible),
                0.5 * (bottom + min(upper, top)),
                f"{tissue}\n{_ohm_text(low, high)}",
                ha="center",
                va="center",
                fontsize=8,
                rotation=90 if visible[1] - visible[0] < 0.08 * (right - left) else 0,
            )
    for name, value in depths_mm.items():
        if value is not None and name.startswith("skin_to"):
            axes.axvline(float(value), color="black", linestyle=":", linewidth=0.8)
            axes.text(float(value), top * 1.01, name.replace("skin_to_", ""), fontsize=8, ha="center")
    axes.set_xlabel("depth along the planned path from the skin (mm)")
    axes.set_ylabel("expected impedance (Ω)")
    axes.set_ylim(0, top * 1.08)
    axes.set_xlim(left, right)
    axes.set_title(
        "Expected impedance by depth, to compare with live readings (open-ended ranges drawn to the edge)",
        fontsize=10,
    )
    return _png(figure)


def _display_slice(array: np.ndarray, affine_lps: np.ndarray) -> np.ndarray:
    """(rows, columns) view of an axial DWI slice with patient left on the right and anterior up."""
    image = np.asarray(array).T  # rows = array axis 1, columns = array axis 0
    if affine_lps[0, 0] < 0:  # axis 0 runs to the patient's right: flip columns
        image = image[:, ::-1]
    if affine_lps[1, 1] < 0:  # axis 1 runs anterior: flip rows so that anterior is up
        image = image[::-1]
    return image


def _crop_box(mask: np.ndarray, margin: int, shape: tuple[int, int]) -> tuple[slice, slice]:
    rows, columns = np.nonzero(mask)
    if rows.size == 0:
        return slice(0, shape[0]), slice(0, shape[1])
    return (
        slice(max(0, rows.min() - margin), min(shape[0], rows.max() + margin + 1)),
        slice(max(0, columns.min() - margin), min(shape[1], columns.max() + margin + 1)),
    )


def dti_panels(maps: Mapping[str, Volume], *, b_value_s_mm2: float, lesion_side: str | None) -> bytes:
    """Trace-weighted image, MD (ADC), FA and colour FA with lesion/homolog outlines, as one PNG.

    ``maps`` holds ``mean_b0``, ``md``, ``fa``, ``color_fa``, ``lesion``, ``homolog`` and ``cord`` on
    the DWI grid. The trace-weighted image is S0·exp(−b·MD), the geometric mean of the diffusion-weighted
    images (the "trace" image readers know), computed from the mean b0 and the fitted MD.
    """
    lesion = np.asarray(maps["lesion"].array) > 0
    per_slice = lesion.reshape(-1, lesion.shape[2]).sum(axis=0)
    k = int(np.argmax(per_slice)) if per_slice.any() else lesion.shape[2] // 2
    affine = maps["md"].affine_lps
    b0 = np.asarray(maps["mean_b0"].array, dtype=float)[..., k]
    md = np.asarray(maps["md"].array, dtype=float)[..., k]
    trace = b0 * np.exp(-b_value_s_mm2 * np.clip(md, 0.0, None))
    fa = np.asarray(maps["fa"].array, dtype=float)[..., k]
    colour = np.asarray(maps["color_fa"].array, dtype=float)[:, :, k, :]
    colour_view = np.stack([_display_slice(colour[..., c], affine) for c in range(3)], axis=-1)
    lesion_view = _display_slice(lesion[..., k], affine)
    homolog_view = _display_slice(np.asarray(maps["homolog"].array)[..., k] > 0, affine)
    cord_view = _display_slice(np.asarray(maps["cord"].array)[..., k] > 0, affine)
    box = _crop_box(cord_view | lesion_view, 10, cord_view.shape)
    panels = [
        (f"trace-weighted (b = {b_value_s_mm2:g} s/mm²)", _display_slice(trace, affine), "gray", None),
        ("ADC = MD (×10⁻³ mm²/s)", _display_slice(md, affine) * 1e3, "gray", (0.0, 2.5)),
        ("FA", _display_slice(fa, affine), "gray", (0.0, 1.0)),
        ("colour FA (red L-R, green A-P, blue S-I)", colour_view, None, None),
    ]
    figure, axes_row = plt.subplots(1, 4, figsize=(13.5, 3.9))
    for axes, (title, image, cmap, limits) in zip(axes_row, panels, strict=True):
        view = image[box]
        if cmap is None:
            axes.imshow(np.clip(view / max(float(view.max()), 1e-6), 0, 1), interpolation="nearest")
        else:
            vmin, vmax = limits or (0.0, float(np.percentile(view, 99.5)) or 1.0)
            shown = axes.imshow(view, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
            if title.startswith("ADC") or title == "FA":
                figure.colorbar(shown, ax=axes, fraction=0.046, pad=0.02)
        for mask, colour_name in ((lesion_view, "#ff2d2d"), (homolog_view, "#00e5ff")):
            if mask[box].any():
                axes.contour(mask[box].astype(float), levels=[0.5], colors=[colour_name], linewidths=1.2)
        axes.set_title(title, fontsize=9)
        axes.set_xticks([])
        axes.set_yticks([])
        height, width = view.shape[:2]
        axes.text(
            width - 2, height / 2, "L", color="white", fontsize=8, ha="right", va="center", weight="bold"
        )
        axes.text(1, height / 2, "R", color="white", fontsize=8, ha="left", va="center", weight="bold")
        axes.text(width / 2, 1, "A", color="white", fontsize=8, ha="center", va="top", weight="bold")
    handles = [
        Line2D([], [], color="#ff2d2d", label=f"lesion ({lesion_side or 'side not known'})"),
        Line2D([], [], color="#00e5ff", label="contralateral homolog (mirrored)"),
    ]
    figure.legend(handles=handles, loc="lower center", ncol=2, fontsize=9, frameon=False)
    figure.subplots_adjust(bottom=0.12, wspace=0.15)
    figure.suptitle(
        f"Post-procedure DTI, slice {k + 1} of {lesion.shape[2]} (most lesion voxels)", fontsize=11
    )
    return _png(figure)
