"""Every subcommand takes --version, -v and -q; -v really shows the decisions."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline import __version__, cli

SAMPLE_DWI = Path(__file__).resolve().parents[2] / "sample_data" / "normal" / "dicom" / "dwi"
COMMANDS = sorted(cli.build_parser()._subparsers._group_actions[0].choices)  # type: ignore[union-attr]


def test_every_command_is_listed() -> None:
    assert {"inspect", "convert", "segment", "dti", "phantom", "run", "report", "cohort"} <= set(COMMANDS)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_subcommand_prints_the_version(command: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        cli.main([command, "--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"cordotomy {__version__}"


def _run_dti_only(tmp_path: Path, *flags: str) -> tuple[int, str]:
    out = tmp_path / ("out" + "".join(flags))
    code = cli.main(["run", str(SAMPLE_DWI), "--pain-side", "right", "--pain-region", "leg",
                     "--only", "dti", "--out", str(out), *flags])  # fmt: skip
    return code, out


def test_verbose_shows_the_decisions(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run_dti_only(tmp_path)
    plain = capsys.readouterr().err
    code_v, _ = _run_dti_only(tmp_path, "-v")
    verbose = capsys.readouterr().err
    assert code == code_v == 0
    # progress per stage in both; the series chosen (and why) and the side searched only with -v
    assert "dti: done in" in plain
    assert "dti: done in" in verbose
    assert "series 5" not in plain
    assert "series 5 ('DTI cord 20dir b1000'): dwi (MR series with diffusion encoding" in verbose
    assert "lesion searched on the left side" in verbose
    # every command: the options and the total time and memory
    assert "options: " in verbose
    assert "finished in" in verbose
    assert "finished in" not in plain
    # no library chatter (matplotlib font search) in -v
    assert "findfont" not in verbose
    code_q, _ = _run_dti_only(tmp_path, "-q")
    assert code_q == 0
    assert capsys.readouterr().err == ""
