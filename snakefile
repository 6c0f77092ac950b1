# Cohort workflow for cordotomy-pipeline: every stage of every case, in parallel, restartable.
#
#   snakemake --cores 2                                   # the cohort in config/config.yaml
#   snakemake --cores 8 --configfile my_cohort.yaml       # your own cohort (same layout)
#   snakemake --profile profiles/slurm                    # on a SLURM cluster (see README)
#
# Per case: `plan` (segmentation + trajectory) and `dti` run as separate jobs (`cordotomy run --only`),
# then `case` assembles OUT/<case>/ (results.json, report.html, DICOM SEG and SR: the tree of DESIGN.md
# §4) with `cordotomy run --reuse`, so a workflow run and a hand run write the same files. `cohort`
# gathers OUT/cohort_summary.tsv and OUT/index.html.

import csv
import re
import shutil
import sys

import yaml

# The bundled cohort only when none is given: a --configfile replaces it rather than merging with it.
if not config:
    with open(workflow.source_path("config/config.yaml"), encoding="utf-8") as handle:
        config.update(yaml.safe_load(handle))

OUT = config.get("out", "results")
CORDOTOMY = shutil.which("cordotomy") or f"{sys.executable} -m pipeline"
CASE_KEYS = {"case", "study", "pain_side", "pain_region", "clinical", "vascular", "parameters"}


def read_cohort(config):
    """Cases from `cases` (mapping) or `cohort` (TSV table), checked before any job runs."""
    if "cases" in config:
        cases = {name: dict(entry or {}) for name, entry in config["cases"].items()}
    elif "cohort" in config:
        with open(config["cohort"], newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle, delimiter="\t"))
        cases = {row["case"]: {k: v for k, v in row.items() if k != "case" and v} for row in rows}
    else:
        raise ValueError("config: give the cohort as `cases` (mapping) or `cohort` (TSV file)")
    for name, case in cases.items():
        if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name) or name in ("stages", "logs"):
            raise ValueError(f"case {name!r}: use letters, digits, - and _ (not 'stages' or 'logs')")
        unknown = set(case) - CASE_KEYS
        missing = {"study", "pain_side", "pain_region"} - set(case)
        if unknown or missing:
            raise ValueError(f"case {name!r}: unknown keys {sorted(unknown)}, missing keys {sorted(missing)}")
    return cases


CASES = read_cohort(config)


wildcard_constraints:
    case="|".join(re.escape(name) for name in CASES),


def options(case, *keys):
    """Command-line options shared by the rules of one case."""
    entry = CASES[case]
    text = f"--pain-side {entry['pain_side']} --pain-region {entry['pain_region']}"
    for key in keys:
        if entry.get(key):
            text += f" --{key} '{entry[key]}'"
    return text


rule all:
    input:
        expand(f"{OUT}/{{case}}", case=list(CASES)),
        f"{OUT}/cohort_summary.tsv",
        f"{OUT}/index.html",


rule plan:
    """Myelogram segmentation and trajectory plan of one case (cordotomy run --only plan)."""
    input:
        study=lambda w: CASES[w.case]["study"],
    output:
        directory(f"{OUT}/stages/{{case}}/plan"),
    params:
        cordotomy=CORDOTOMY,
        options=lambda w: options(w.case, "vascular", "parameters"),
    log:
        f"{OUT}/logs/{{case}}.plan.log",
    conda:
        "envs/cordotomy.yaml"
    threads: 2
    resources:
        mem_mb=3000,
        runtime=20,
    shell:
        "OMP_NUM_THREADS={threads} ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS={threads} "
        "{params.cordotomy} run {input.study:q} {params.options} --only plan --out {output:q} 2> {log:q}"


rule dti:
    """Post-procedure DTI of one case, lesion on the cordotomy side (cordotomy run --only dti)."""
    input:
        study=lambda w: CASES[w.case]["study"],
    output:
        directory(f"{OUT}/stages/{{case}}/dti"),
    params:
        cordotomy=CORDOTOMY,
        options=lambda w: options(w.case, "parameters"),
    log:
        f"{OUT}/logs/{{case}}.dti.log",
    conda:
        "envs/cordotomy.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "OMP_NUM_THREADS={threads} ITK_GLOBAL_DEFAULT_NUMBER_OF_THREADS={threads} "
        "{params.cordotomy} run {input.study:q} {params.options} --only dti --out {output:q} 2> {log:q}"


rule case:
    """The case folder: results.json, report.html, DICOM SEG and SR from the stage outputs."""
    input:
        study=lambda w: CASES[w.case]["study"],
        plan=f"{OUT}/stages/{{case}}/plan",
        dti=f"{OUT}/stages/{{case}}/dti",
        clinical=lambda w: [CASES[w.case]["clinical"]] if CASES[w.case].get("clinical") else [],
    output:
        directory(f"{OUT}/{{case}}"),
    params:
        cordotomy=CORDOTOMY,
        options=lambda w: options(w.case, "clinical", "vascular", "parameters"),
    log:
        f"{OUT}/logs/{{case}}.case.log",
    conda:
        "envs/cordotomy.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "OMP_NUM_THREADS={threads} "
        "{params.cordotomy} run {input.study:q} {params.options} --case {wildcards.case} "
        "--reuse {input.plan:q} --reuse {input.dti:q} --out {output:q} 2> {log:q}"


rule cohort:
    """One row per case (flags, clearances, DTI changes) and an index.html linking every report."""
    input:
        expand(f"{OUT}/{{case}}", case=list(CASES)),
    output:
        summary=f"{OUT}/cohort_summary.tsv",
        index=f"{OUT}/index.html",
    params:
        cordotomy=CORDOTOMY,
    log:
        f"{OUT}/logs/cohort.log",
    conda:
        "envs/cordotomy.yaml"
    threads: 1
    resources:
        mem_mb=500,
        runtime=5,
    shell:
        "{params.cordotomy} cohort {input:q} --summary {output.summary:q} --index {output.index:q} 2> {log:q}"
