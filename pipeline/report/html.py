"""The case report: one self-contained ``report.html`` (Jinja2 template, figures embedded as PNG data URIs).

The page makes no network request: no external CSS, JavaScript, fonts or images; everything it shows
comes from ``results.json`` and the files beside it in the output folder (segmentation, DTI maps), plus
the CT series recorded in ``results.json`` for the reformats (labels only when it is no longer there).
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import jinja2

from pipeline import __version__
from pipeline.outputs import staged_files
from pipeline.report import figures
from pipeline.report.results import read_results
from pipeline.volume import Volume

log = logging.getLogger("cordotomy")

SEVERITY_ORDER = {"danger": 0, "warning": 1, "info": 2}
STATUS_TEXT = {
    "ideal": "ideal",
    "relative_contraindication": "relative contraindication",
    "contraindication": "contraindication",
    "not_given": "not given",
}


def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("pipeline.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["num"] = _number
    environment.filters["vec"] = lambda v: "—" if v is None else "(" + ", ".join(f"{x:.1f}" for x in v) + ")"
    return environment


def _number(value: Any, digits: int = 2) -> str:
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if value != 0 and abs(value) < 0.01:
        return f"{value:.3g}"
    return f"{value:.{digits}f}"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _load_ct(results: Mapping[str, Any]) -> Volume | None:
    """The CT the plan was made on, from the path recorded in results.json (None when it is gone)."""
    from pipeline.ingest import load_series

    used = next(
        (s for s in results.get("series", []) if s.get("role") == "ct_myelogram" and s.get("used")), None
    )
    if used is None or not used.get("path"):
        return None
    path = Path(used["path"])
    if not path.exists():
        log.warning(
            "CT series %s no longer at %s: reformats show the labels only", used.get("series_number"), path
        )
        return None
    return load_series(path, used.get("series_uid") or None)


def _dti_maps(folder: Path) -> dict[str, Volume] | None:
    names = ("mean_b0", "md", "fa", "color_fa", "lesion", "homolog", "cord")
    paths = {name: folder / "dti" / f"{'v1' if name == 'v1' else name}.nii.gz" for name in names}
    if not all(p.exists() for p in paths.values()):
        return None
    return {name: Volume.from_nifti(path) for name, path in paths.items()}


def make_figures(folder: Path, results: Mapping[str, Any], *, ct: Volume | None = None) -> dict[str, str]:
    """Every figure of the report as a data URI, keyed by figure group."""
    out: dict[str, str] = {}
    plan = results.get("plan")
    segmentation = folder / "segmentation.nii.gz"
    if plan is not None and segmentation.exists():
        labels = Volume.from_nifti(segmentation)
        if ct is None:
            ct = _load_ct(results)
        frame = results["myelogram"]["frame"]
        estimated = plan.get("vertebral_artery", {}).get("source") != "vascular_series"
        out["reformats"] = _data_uri(
            figures.path_reformats(plan, frame, labels, ct, arteries_estimated=estimated)
        )
        out["impedance"] = _data_uri(
            figures.impedance_profile(plan.get("expected_impedance", []), plan.get("depths_mm", {}))
        )
    dti = results.get("dti")
    maps = _dti_maps(folder) if dti is not None else None
    if dti is not None and maps is not None:
        b_values = [b for b in dti.get("input", {}).get("b_values_s_mm2", []) if b > 50]
        out["dti"] = _data_uri(
            figures.dti_panels(
                maps,
                b_value_s_mm2=float(max(b_values) if b_values else 1000.0),
                lesion_side=dti.get("lesion_side"),
            )
        )
    return out


def render_report(results: Mapping[str, Any], figure_uris: Mapping[str, str], *, case: str) -> str:
    """The HTML text of the report."""
    flags = sorted(results.get("flags", []), key=lambda f: SEVERITY_ORDER.get(f.get("severity", "info"), 3))
    template = _environment().get_template("report.html.j2")
    return template.render(
        case=case,
        results=results,
        plan=results.get("plan"),
        dti=results.get("dti"),
        myelogram=results.get("myelogram"),
        selection=results.get("selection"),
        flags=flags,
        figures=figure_uris,
        status_text=STATUS_TEXT,
        version=__version__,
        parameters=[
            (
                key,
                {
                    "value": p.get("value"),
                    "source": p.get("source"),
                    "unit": p.get("unit"),
                    "estimate": bool(p.get("estimate")),
                },
            )
            for key, p in sorted(results.get("parameters", {}).items())
        ],
    )


def write_report(folder: str | Path, *, ct: Volume | None = None, force: bool = True) -> Path:
    """Write ``folder/report.html`` from ``folder/results.json`` and the files beside it."""
    folder = Path(folder)
    results = read_results(folder)
    html = render_report(
        results, make_figures(folder, results, ct=ct), case=str(results.get("case") or folder.name)
    )
    target = folder / "report.html"
    with staged_files(target, force=force) as (temporary,):
        temporary.write_text(html, encoding="utf-8")
    return target


def write_cohort_index(rows: Iterable[Mapping[str, Any]], out_html: str | Path) -> Path:
    """``index.html`` of a cohort: one line per case with its flags and a link to its report."""
    out_html = Path(out_html)
    template = _environment().get_template("index.html.j2")
    html = template.render(rows=list(rows), version=__version__, severity_order=SEVERITY_ORDER)
    with staged_files(out_html, force=True) as (temporary,):
        temporary.write_text(html, encoding="utf-8")
    return out_html
