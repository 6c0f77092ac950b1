"""The series listing of ``cordotomy inspect``: a human-readable table of a study's series."""

from __future__ import annotations

from pipeline.ingest.discover import SeriesInfo


def format_table(infos: list[SeriesInfo]) -> str:
    """Plain-text table, one series per line, problems indented below it."""
    header = f"{'number':>6}  {'modality':8}  {'role':12}  {'shape':18}  {'spacing mm':20}  {'plane':9}  description"
    lines = [header, "-" * len(header)]
    study = None
    for info in infos:
        if info.study_uid != study:
            study = info.study_uid
            lines.append(f"study {study or '(no StudyInstanceUID)'}")
        number = "-" if info.series_number is None else str(info.series_number)
        shape = "x".join(str(s) for s in info.shape) or "?"
        spacing = "x".join(f"{s:.3g}" for s in info.spacing_mm) or "?"
        lines.append(
            f"{number:>6}  {info.modality:8}  {info.role:12}  {shape:18}  {spacing:20}  {info.orientation:9}  "
            f"{info.description}"
        )
        lines.append(f"{'':8}uid {info.series_uid or '(none)'}  ({info.n_files} files)")
        lines.extend(f"{'':8}problem: {problem}" for problem in info.problems)
    return "\n".join(lines)
