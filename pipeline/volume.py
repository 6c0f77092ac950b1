"""The one geometry type: a voxel array and the affine that maps its indices to patient LPS mm.

Conventions (DESIGN.md §3)
--------------------------
* ``array`` axes are in the same order as the affine's columns; for DICOM-derived volumes axis 0 runs
  along a row (increasing column index), axis 1 down a column (increasing row index), axis 2 along the
  slice normal. A 4-D array carries volumes (e.g. diffusion directions) on its last axis.
* ``affine_lps`` maps ``(i, j, k, 1)`` to DICOM patient coordinates (LPS, mm).
* NIfTI is RAS by definition, so :meth:`Volume.to_nifti` flips the first two world axes and writes
  sform and qform with code 1 (scanner), as dcm2niix does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from scipy import ndimage

# LPS <-> RAS: negate x and y (NIfTI-1 header documentation, "method 3").
LPS_TO_RAS = np.diag([-1.0, -1.0, 1.0, 1.0])


@dataclass(frozen=True)
class Provenance:
    """Where a volume came from: series identifiers, files and what was done to its geometry.

    Every writer names its source series from here (``dti.json``, ``plan.json``, the SEG and SR), so the
    field names are fixed in one place. Never holds patient identifiers.
    """

    source: str = "unknown"  # "dicom", "nifti", "derived", "phantom"
    series_uid: str | None = None
    series_number: int | None = None
    description: str = ""
    modality: str = ""
    study_uid: str | None = None
    manufacturer: str = ""
    source_files: tuple[str, ...] = ()
    geometry_notes: tuple[str, ...] = ()  # gantry-tilt resampling, motion correction, ...
    padding_voxels: int = 0

    def with_note(self, note: str) -> Provenance:
        return replace(self, geometry_notes=(*self.geometry_notes, note))

    @property
    def label(self) -> str:
        """How messages and reports name the series: number and description, or the file."""
        if self.series_number is not None or self.description:
            number = self.series_number if self.series_number is not None else "?"
            return f"series {number}" + (f" ({self.description!r})" if self.description else "")
        if self.source_files:
            return Path(self.source_files[0]).name
        return "the input volume"

    def to_json(self) -> dict[str, Any]:
        """What the JSON documents record of a source series (no file paths: they may name patients)."""
        return {
            "source": self.source,
            "series_number": self.series_number,
            "series_description": self.description,
            "series_instance_uid": self.series_uid,
            "modality": self.modality,
            "geometry_notes": list(self.geometry_notes),
        }


def fsl_bvecs_from_lps(directions_lps: np.ndarray, affine_lps: np.ndarray) -> np.ndarray:
    """Gradient directions in the FSL ``.bvec`` convention for the NIfTI that :meth:`Volume.to_nifti` writes.

    FSL (and dcm2niix, which writes FSL files) express b-vectors along the image's voxel axes, with the
    first component negated when the NIfTI (RAS) voxel-to-world matrix has a positive determinant,
    because FSL reasons in radiological voxel order (FSL FDT user guide, "What conventions do the bvecs
    use?"; dcm2niix ``nii_dicom_batch.cpp``). dipy's ``gradient_table`` uses such vectors directly with
    the voxel array. Shared by ingest (DICOM gradients) and the phantom (generated gradients).

    Parameters
    ----------
    directions_lps : (N, 3) array
        Gradient directions in patient LPS (the DICOM (0018,9089) frame); zero rows stay zero.
    affine_lps : (4, 4) array
        Voxel index -> LPS mm affine of the diffusion volume.

    Returns
    -------
    (N, 3) ndarray
        Components along the voxel axes, first one negated for a positive RAS determinant.
    """
    linear = np.asarray(affine_lps, dtype=np.float64)[:3, :3]
    axes_lps = linear / np.linalg.norm(linear, axis=0)
    voxel = np.asarray(directions_lps, dtype=np.float64) @ axes_lps  # components along each voxel axis
    if np.linalg.det(LPS_TO_RAS[:3, :3] @ linear) > 0:
        voxel[:, 0] = -voxel[:, 0]
    return voxel


@dataclass(frozen=True, eq=False)
class Volume:
    """A voxel array with its exact patient-space geometry.

    Parameters
    ----------
    array : (I, J, K) or (I, J, K, T) ndarray
        Voxel values; HU for CT (int16 as loaded from a CT series whose HU are whole numbers, else float).
    affine_lps : (4, 4) ndarray
        Maps array indices (in the array's own axis order) to LPS mm.
    provenance : Provenance
        Where the voxels came from; travels with the volume through every stage.
    """

    array: np.ndarray
    affine_lps: np.ndarray
    provenance: Provenance = field(default_factory=Provenance)

    def __post_init__(self) -> None:
        affine = np.asarray(self.affine_lps, dtype=np.float64)
        if affine.shape != (4, 4):
            raise ValueError(f"affine_lps must be 4x4, got {affine.shape}")
        if self.array.ndim not in (3, 4):
            raise ValueError(f"Volume array must be 3-D or 4-D, got {self.array.ndim}-D")
        if not np.isfinite(affine).all():
            raise ValueError("affine_lps is not finite")
        if abs(np.linalg.det(affine[:3, :3])) < 1e-12:
            raise ValueError("affine_lps is singular")
        object.__setattr__(self, "affine_lps", affine)

    # -- geometry -------------------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.array.shape)

    @property
    def spacing_mm(self) -> np.ndarray:
        """Voxel size along each array axis (column norms of the affine)."""
        return np.linalg.norm(self.affine_lps[:3, :3], axis=0)

    @property
    def direction_lps(self) -> np.ndarray:
        """Unit direction of each array axis in LPS, as columns of a 3x3 matrix."""
        return self.affine_lps[:3, :3] / self.spacing_mm

    @property
    def affine_ras(self) -> np.ndarray:
        return LPS_TO_RAS @ self.affine_lps

    def index_to_lps(self, ijk: np.ndarray) -> np.ndarray:
        """Map voxel indices ``(..., 3)`` to LPS mm ``(..., 3)``."""
        ijk = np.asarray(ijk, dtype=np.float64)
        return ijk @ self.affine_lps[:3, :3].T + self.affine_lps[:3, 3]

    def lps_to_index(self, points_lps_mm: np.ndarray) -> np.ndarray:
        """Map LPS mm points ``(..., 3)`` to continuous voxel indices ``(..., 3)``."""
        points = np.asarray(points_lps_mm, dtype=np.float64)
        inverse = np.linalg.inv(self.affine_lps)
        return points @ inverse[:3, :3].T + inverse[:3, 3]

    def with_array(self, array: np.ndarray, *, note: str | None = None) -> Volume:
        """Same geometry and provenance, new voxels (e.g. a label map); ``note`` records what was done."""
        if array.shape[:3] != self.array.shape[:3]:
            raise ValueError(f"array shape {array.shape} does not match volume grid {self.array.shape[:3]}")
        provenance = self.provenance if note is None else self.provenance.with_note(note)
        return replace(self, array=array, provenance=provenance)

    def resample_to(
        self, affine_lps: np.ndarray, shape: tuple[int, int, int], *, order: int = 1, cval: float = 0.0
    ) -> Volume:
        """Resample this 3-D volume onto another grid given by its LPS affine and shape.

        ``order`` is the spline order (0 nearest, for labels; 1 trilinear). Points outside get ``cval``.
        """
        if self.array.ndim != 3:
            raise ValueError("resample_to works on 3-D volumes")
        # target index -> world -> source index, composed into one affine map.
        source_from_target = np.linalg.inv(self.affine_lps) @ np.asarray(affine_lps, dtype=np.float64)
        data = self.array if order == 0 else self.array.astype(np.float32, copy=False)
        resampled = ndimage.affine_transform(
            data,
            source_from_target[:3, :3],
            offset=source_from_target[:3, 3],
            output_shape=shape,
            order=order,
            mode="constant",
            cval=cval,
            prefilter=order > 1,
        )
        return Volume(resampled, affine_lps, self.provenance)

    # -- nibabel (RAS) --------------------------------------------------------------------------
    def to_nifti(self, dtype: np.dtype | type | None = None) -> nib.Nifti1Image:
        """NIfTI-1 image in RAS with sform and qform set (code 1, scanner anatomical)."""
        data = self.array if dtype is None else self.array.astype(dtype)
        image = nib.Nifti1Image(data, self.affine_ras)
        image.header.set_xyzt_units("mm", "sec")
        image.set_sform(self.affine_ras, code=1)
        image.set_qform(self.affine_ras, code=1)
        return image

    @classmethod
    def from_nifti(cls, image: nib.spatialimages.SpatialImage | str | Path) -> Volume:
        """Volume from a NIfTI image or file; scaling (scl_slope/inter) is applied."""
        loaded = nib.load(str(image)) if isinstance(image, (str, Path)) else image
        if not isinstance(loaded, nib.spatialimages.SpatialImage) or loaded.affine is None:
            raise ValueError(f"{image} is not an image with an affine")
        source = (str(image),) if isinstance(image, (str, Path)) else ()
        provenance = Provenance(source="nifti", source_files=source)
        return cls(np.asarray(np.asanyarray(loaded.dataobj)), LPS_TO_RAS @ loaded.affine, provenance)

    # -- SimpleITK (LPS) ------------------------------------------------------------------------
    def to_sitk(self) -> sitk.Image:
        """SimpleITK image of this 3-D volume (ITK works in LPS, so no flip)."""
        if self.array.ndim != 3:
            raise ValueError("to_sitk works on 3-D volumes")
        image = sitk.GetImageFromArray(np.ascontiguousarray(self.array.transpose(2, 1, 0)))
        image.SetSpacing(tuple(float(s) for s in self.spacing_mm))
        image.SetDirection(tuple(float(d) for d in self.direction_lps.ravel()))
        image.SetOrigin(tuple(float(o) for o in self.affine_lps[:3, 3]))
        return image

    @classmethod
    def from_sitk(cls, image: sitk.Image, provenance: Provenance | None = None) -> Volume:
        """Volume from a 3-D SimpleITK image."""
        if image.GetDimension() != 3:
            raise ValueError("from_sitk works on 3-D images")
        array = sitk.GetArrayFromImage(image).transpose(2, 1, 0)
        direction = np.asarray(image.GetDirection(), dtype=np.float64).reshape(3, 3)
        affine = np.eye(4)
        affine[:3, :3] = direction * np.asarray(image.GetSpacing(), dtype=np.float64)
        affine[:3, 3] = image.GetOrigin()
        return cls(array, affine, provenance or Provenance(source="derived"))
