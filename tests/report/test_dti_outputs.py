"""dti.json and the DTI NIfTI maps: contract keys, values read back, geometry of the DWI."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from pipeline.dti import analyse_dwi
from pipeline.errors import UsageError
from pipeline.phantom.dwi import make_dwi_phantom
from pipeline.report.dti_outputs import MAP_FILES, SCHEMA, dti_document, write_dti
from pipeline.volume import Volume


@pytest.fixture(scope="module")
def analysis():
    phantom = make_dwi_phantom(cordotomy_side="left", cord_offset_mm=(1.6, -2.4), rotation_deg=8.0)
    return analyse_dwi(phantom.volume, phantom.bvals_s_mm2, phantom.bvecs, cord_mask=phantom.cord_mask)


def test_document_holds_the_contract(analysis) -> None:
    document = json.loads(json.dumps(dti_document(analysis)))  # plain JSON types only
    assert document["schema"] == SCHEMA == "cordotomy.dti/1"
    assert document["lesion"] == analysis.lesion.as_dict()
    assert document["homolog"] == analysis.homolog.as_dict()
    for metric in ("fa", "md", "ad", "rd"):
        assert document["change_percent"][metric] == pytest.approx(analysis.change_percent[metric], rel=1e-5)
        # The contract's definition, from the document's own ROI means: 100·(lesion − homolog)/homolog.
        key = "fa" if metric == "fa" else f"{metric}_mm2_s"
        lesion, homolog = document["lesion"][key], document["homolog"][key]
        assert document["change_percent"][metric] == pytest.approx(
            100 * (lesion - homolog) / homolog, rel=1e-5
        )
    assert document["lesion_source"] == "detected"
    assert document["lesion_side"] == "left"
    assert document["lesion_cord_fraction_percent"] == pytest.approx(
        analysis.lesion_cord_fraction_percent, rel=1e-5
    )
    threshold = document["lesion_cord_fraction_threshold"]
    assert threshold["meets"] == (document["lesion_cord_fraction_percent"] >= threshold["min_percent"])
    assert "cannot all hold" in document["notes"][0]
    assert document["parameters"]["lesion_md_threshold_percent"]["value"] == -12.0


def test_files_are_written_atomically_and_read_back(analysis, tmp_path: Path) -> None:
    out = tmp_path / "out"
    written = write_dti(analysis, out)
    assert sorted(p.relative_to(out).as_posix() for p in written) == sorted([*MAP_FILES.values(), "dti.json"])
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no staging folder left behind
    grid = analysis.grid
    fa = Volume.from_nifti(out / "dti" / "fa.nii.gz")
    np.testing.assert_allclose(fa.affine_lps, grid.affine_lps, atol=1e-5)
    # Independently of Volume's own reader: nibabel sees the DWI's affine in RAS, sform and qform set.
    raw = nib.load(out / "dti" / "fa.nii.gz")
    np.testing.assert_allclose(raw.affine, np.diag([-1.0, -1.0, 1.0, 1.0]) @ grid.affine_lps, atol=1e-5)
    assert int(raw.header["sform_code"]) == 1
    assert int(raw.header["qform_code"]) == 1
    np.testing.assert_allclose(fa.array, analysis.maps.fa.astype(np.float32))
    lesion = Volume.from_nifti(out / "dti" / "lesion.nii.gz").array > 0
    np.testing.assert_array_equal(lesion, analysis.lesion_mask)
    colour = Volume.from_nifti(out / "dti" / "color_fa.nii.gz").array
    assert colour.shape == (*grid.shape, 3)
    with pytest.raises(UsageError, match="--force"):
        write_dti(analysis, out)
    write_dti(analysis, out, force=True)
    assert json.loads((out / "dti.json").read_text())["schema"] == SCHEMA


def test_document_follows_its_schema(analysis) -> None:
    from pipeline.contract import validate_document

    document = json.loads(json.dumps(dti_document(analysis)))
    validate_document(document, "dti")
    assert document["lesion_cord_fraction_method"] == "signal_partial_volume"
    assert (
        "same computation for a given mask and for a detected lesion"
        in document["lesion_cord_fraction_definition"]
    )


SCHEMA_BREAKS = [
    pytest.param(
        lambda d: d.pop("lesion_cord_fraction_percent"), "lesion_cord_fraction_percent", id="missing"
    ),
    pytest.param(lambda d: d.update(extra=1), "extra", id="unknown-key"),
    pytest.param(lambda d: d["input"].update(series_number="5"), "series_number", id="number-as-text"),
    pytest.param(lambda d: d.update(lesion_side="up"), "lesion_side", id="bad-side"),
    pytest.param(lambda d: d["lesion"].pop("md_mm2_s"), "lesion", id="roi-field"),
]


@pytest.mark.parametrize(("breakage", "words"), SCHEMA_BREAKS)
def test_schema_is_strict(analysis, breakage, words: str) -> None:
    from pipeline.contract import validate_document
    from pipeline.contract.schemas import ContractError

    document = json.loads(json.dumps(dti_document(analysis)))
    breakage(document)
    with pytest.raises(ContractError, match=words):
        validate_document(document, "dti")


def test_phantom_dicom_dwi_names_its_series(tmp_path: Path) -> None:
    """dti.json names the series the DWI came from; reference: the DICOM header read with pydicom."""
    import pydicom

    from pipeline.ingest import load_dwi

    folder = Path(__file__).resolve().parents[2] / "sample_data" / "normal" / "dicom" / "dwi"
    header = pydicom.dcmread(min(folder.glob("*.dcm")), stop_before_pixels=True)
    dwi = load_dwi(folder)
    result = analyse_dwi(dwi.volume, dwi.bvals_s_mm2, dwi.bvecs)
    write_dti(result, tmp_path / "out")
    document = json.loads((tmp_path / "out" / "dti.json").read_text(encoding="utf-8"))
    assert document["input"]["series_number"] == int(header.SeriesNumber)
    assert document["input"]["series_description"] == str(header.SeriesDescription)
    assert document["input"]["source"] == "dicom"


def test_nifti_dwi_has_no_series_to_name(tmp_path: Path) -> None:
    from pipeline.ingest import load_dwi

    dwi = load_dwi(Path(__file__).resolve().parents[2] / "sample_data" / "normal" / "nifti" / "dwi.nii.gz")
    document = dti_document(analyse_dwi(dwi.volume, dwi.bvals_s_mm2, dwi.bvecs))
    assert document["input"]["series_number"] is None
    assert document["input"]["series_description"] is None
    assert document["input"]["source"] == "nifti"


def test_real_dwi_series_is_named_as_dcm2niix_names_it(real_data: Path) -> None:
    """A real Siemens mosaic DWI: number and description as in dcm2niix's BIDS sidecar.

    The series is sagittal (the lesion homolog needs axial slices), so the identity is checked where
    dti.json takes it from: the loaded volume's provenance.
    """
    from pipeline.ingest import load_dwi

    case = real_data / "dwi_vendors" / "siemens_mosaic_sag"
    sidecar = json.loads((case / "ref" / "4_DWI_SagAPmosaic.json").read_text(encoding="utf-8"))
    dwi = load_dwi(case / "dicom")
    provenance = dwi.volume.provenance
    assert (provenance.series_number, provenance.description) == (
        sidecar["SeriesNumber"],
        sidecar["SeriesDescription"],
    )
