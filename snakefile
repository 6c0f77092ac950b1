# Cohort workflow for cordotomy-pipeline: every stage of every case, in parallel, restartable.
#
#   snakemake --cores 2                               # the cohort in config/config.yaml
#   snakemake --cores 8 --configfile cohort.yaml      # your own cohort (same layout)
#
# Each rule calls the `cordotomy` command, so a workflow run and a hand run give the same files
# (the output contract of DESIGN.md §4). The summary table gathers the machine-readable results.

import shutil
import sys

import yaml

# The bundled cohort only when none is given: a --configfile replaces it rather than merging with it.
if not config:
    with open(workflow.source_path("config/config.yaml"), encoding="utf-8") as handle:
        config.update(yaml.safe_load(handle))

OUT = config.get("out", "results")
CASES = config["cases"]
CORDOTOMY = shutil.which("cordotomy") or f"{sys.executable} -m pipeline"


def cases_with(key):
    return [name for name, case in CASES.items() if case.get(key)]


rule all:
    input:
        expand(f"{OUT}/{{case}}/segment", case=cases_with("ct")),
        expand(f"{OUT}/{{case}}/dti", case=cases_with("dwi")),
        f"{OUT}/cohort_summary.tsv",


rule segment:
    """Myelogram stage: labels, dentate ligaments, vertebral arteries (cordotomy segment)."""
    input:
        ct=lambda w: CASES[w.case]["ct"],
    output:
        directory(f"{OUT}/{{case}}/segment"),
    params:
        vascular=lambda w: f"--vascular {CASES[w.case]['vascular']}" if CASES[w.case].get("vascular") else "",
        contrast=lambda w: CASES[w.case].get("contrast", "ct-myelogram"),
    log:
        f"{OUT}/logs/{{case}}.segment.log",
    shell:
        "{CORDOTOMY} segment {input.ct:q} --out {output:q} --contrast {params.contrast} {params.vascular} 2> {log:q}"


rule dti:
    """DTI stage: tensor maps, lesion against its mirrored homolog (cordotomy dti)."""
    input:
        dwi=lambda w: CASES[w.case]["dwi"],
    output:
        directory(f"{OUT}/{{case}}/dti"),
    params:
        side=lambda w: f"--lesion-side {CASES[w.case]['lesion_side']}" if CASES[w.case].get("lesion_side") else "",
    log:
        f"{OUT}/logs/{{case}}.dti.log",
    shell:
        "{CORDOTOMY} dti {input.dwi:q} --out {output:q} {params.side} 2> {log:q}"


rule summary:
    """One row per case: cord size, dentate/VA findings and DTI changes, for cohort statistics."""
    input:
        segment=expand(f"{OUT}/{{case}}/segment", case=cases_with("ct")),
        dti=expand(f"{OUT}/{{case}}/dti", case=cases_with("dwi")),
    output:
        f"{OUT}/cohort_summary.tsv",
    run:
        from pipeline.report.cohort import write_cohort_summary

        write_cohort_summary(OUT, list(CASES), output[0])
