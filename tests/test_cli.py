"""The edge-detect CLI: inputs (files, folders, globs), output formats, exit status, `info`."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass

import pytest

from edge_runtime import Detector, DetectorOptions
from edge_runtime.cli import main
from edge_runtime.inputs import expand_inputs
from edge_runtime.types import DetectionError
from tests.conftest import REPO, requires_shared_data, sample_images
from tests.image_cases import BAD_CASES, VALID_CASES, asymmetric_rgb


def _default_model_present() -> bool:
    from edge_runtime.registry import DEFAULT_MODEL, available_variants

    return DEFAULT_MODEL in available_variants()


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


def run_cli(*args: str, stdin: bytes | None = None) -> CliResult:
    """edge_runtime.cli.main in this process, stdout and stderr captured apart."""
    out, err = io.StringIO(), io.StringIO()
    stdin_stream = io.TextIOWrapper(io.BytesIO(stdin or b""), encoding="latin-1")
    with (
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        _replace_stdin(stdin_stream),
    ):
        try:
            code = main([str(a) for a in args])
        except SystemExit as e:  # usage errors and --help/--version exit
            code = e.code if isinstance(e.code, int) else 1
    return CliResult(code, out.getvalue(), err.getvalue())


@contextlib.contextmanager
def _replace_stdin(stream):
    saved = sys.stdin
    sys.stdin = stream
    try:
        yield
    finally:
        sys.stdin = saved


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


@pytest.fixture()
def mixed_folder(tmp_path):
    """Good images, bad files with image extensions, and things a folder scan must skip."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    good = [
        VALID_CASES[c](folder) for c in ("png_alpha", "jpeg_cmyk", "upper_case_extension", "webp")
    ]
    good += [VALID_CASES["non_ascii_name_with_spaces"](folder)]
    bad = [
        BAD_CASES[c][0](folder)
        for c in ("zero_byte", "truncated_jpeg", "text_renamed_jpg", "too_small")
    ]
    (folder / "README.txt").write_text("not an image, and not named one: skipped\n")
    asymmetric_rgb().save(folder / ".hidden.jpg")  # hidden: skipped
    sub = folder / "sub"
    sub.mkdir()
    asymmetric_rgb().save(sub / "nested.png")  # only with --recursive
    return folder, good, bad


def test_mixed_folder_one_line_per_file_exit_1(tiny_bundles, mixed_folder):
    folder, good, bad = mixed_folder
    result = run_cli(folder, "--model", tiny_bundles["fp32"], "--json")
    assert result.exit_code == 1
    rows = json_lines(result.stdout)
    results = {r["path"]: r for r in rows if "label" in r}
    errors = {r["path"]: r for r in rows if "error" in r}
    assert sorted(results) == sorted(str(p) for p in good)
    assert sorted(errors) == sorted(str(p) for p in bad)
    for r in results.values():
        assert set(r) >= {"path", "label", "fake_probability", "model", "latency_ms"}
        assert r["model"] == tiny_bundles["fp32"].name
    for path, r in errors.items():
        assert path in r["error"] and "\n" not in r["error"]
    assert "Traceback" not in result.stdout + result.stderr


def test_results_match_the_python_api(tiny_bundles, mixed_folder):
    _, good, _ = mixed_folder
    # --faces none: the whole image, as the Python API's default (these images hold no face).
    result = run_cli(
        *good, "--model", tiny_bundles["int8"], "--json", "--threads", "1", "--faces", "none"
    )
    assert result.exit_code == 0, result.stderr
    det = Detector(DetectorOptions(model=str(tiny_bundles["int8"]), num_threads=1))
    for row, path in zip(json_lines(result.stdout), good, strict=True):
        expected = det.detect(path)
        assert row["path"] == str(path)
        assert row["fake_probability"] == expected.fake_probability
        assert row["label"] == expected.label


def test_threshold_decides_the_label(tiny_bundles, mixed_folder):
    _, good, _ = mixed_folder
    everything_fake = json_lines(
        run_cli(
            *good, "-m", tiny_bundles["fp32"], "--json", "--threshold", "0", "--faces", "none"
        ).stdout
    )
    assert {r["label"] for r in everything_fake} == {"fake"}
    nothing_fake = json_lines(
        run_cli(
            *good, "-m", tiny_bundles["fp32"], "--json", "--threshold", "1", "--faces", "none"
        ).stdout
    )
    assert {r["label"] for r in nothing_fake} == {"real"}


def test_recursive_and_hidden(tiny_bundles, mixed_folder):
    folder, good, bad = mixed_folder
    flat = json_lines(run_cli(folder, "-m", tiny_bundles["fp32"], "--json").stdout)
    deep = json_lines(run_cli(folder, "-r", "-m", tiny_bundles["fp32"], "--json").stdout)
    assert len(flat) == len(good) + len(bad)
    assert len(deep) == len(flat) + 1
    assert any(r["path"].endswith("nested.png") for r in deep)
    assert not any(".hidden" in r["path"] or "README" in r["path"] for r in deep)


def test_globs_are_expanded(tiny_bundles, mixed_folder):
    folder, _, _ = mixed_folder
    result = run_cli(str(folder / "*.png"), "-m", tiny_bundles["fp32"], "--json")
    paths = sorted(r["path"] for r in json_lines(result.stdout))
    assert paths == sorted(str(p) for p in folder.glob("*.png") if not p.name.startswith("."))
    deep = json_lines(
        run_cli(str(folder / "**" / "*.png"), "-r", "-m", tiny_bundles["fp32"], "--json").stdout
    )
    assert any(r["path"].endswith("nested.png") for r in deep)
    nothing = run_cli(str(folder / "*.nope"), "-m", tiny_bundles["fp32"], "--json")
    assert nothing.exit_code == 1
    assert "no files match" in json_lines(nothing.stdout)[0]["error"]


def test_table_output_and_summary(tiny_bundles, mixed_folder):
    folder, good, bad = mixed_folder
    result = run_cli(folder, "-m", tiny_bundles["fp32"])
    assert result.exit_code == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["LABEL", "P(FAKE)", "TIME", "ms", "FILE"]
    assert len(lines) == 1 + len(good) + len(bad)
    assert sum(line.startswith("ERROR") for line in lines) == len(bad)
    assert (
        f"{len(good) + len(bad)} inputs" in result.stderr and f"{len(bad)} failed" in result.stderr
    )


def test_explicit_non_image_file_is_attempted(tiny_bundles, tmp_path):
    notes = tmp_path / "notes.txt"
    notes.write_text("hello")
    result = run_cli(notes, "-m", tiny_bundles["fp32"], "--json")
    assert result.exit_code == 1
    assert "not an image" in json_lines(result.stdout)[0]["error"]


def test_folder_without_images_is_an_error_line(tiny_bundles, tmp_path):
    (tmp_path / "a.txt").write_text("x")
    (tmp_path / "b.csv").write_text("y")
    ok = tmp_path / "ok.png"
    result = run_cli(tmp_path, "-m", tiny_bundles["fp32"], "--json")
    assert result.exit_code == 1
    (row,) = json_lines(result.stdout)
    assert row["path"] == str(tmp_path) and "holds no images" in row["error"]
    asymmetric_rgb().save(ok)
    assert run_cli(tmp_path, "-m", tiny_bundles["fp32"]).exit_code == 0


def test_all_good_exits_0(tiny_bundles, tmp_path):
    paths = [VALID_CASES[c](tmp_path) for c in ("bmp", "tiff", "gif_animated")]
    result = run_cli(*paths, "-m", tiny_bundles["dynamic"])
    assert result.exit_code == 0
    assert len(result.stdout.splitlines()) == 1 + len(paths)


@pytest.mark.parametrize(
    "args, needle",
    [
        ([], "required: IMAGE"),
        (["--bogus-flag", "x.jpg"], "unrecognized arguments: --bogus-flag"),
        (["--backend", "nope", "x.jpg"], "--backend"),
        (["--threads", "0", "x.jpg"], "--threads"),
        (["--threshold", "1.5", "x.jpg"], "--threshold"),
    ],
)
def test_usage_errors_exit_2(args, needle):
    result = run_cli(*args)
    assert result.exit_code == 2
    assert needle in result.stderr + result.stdout


def test_usage_errors_are_one_line():
    for args in ([], ["--bogus-flag", "x.jpg"], ["-t", "0", "x.jpg"]):
        result = run_cli(*args)
        assert result.exit_code == 2
        _one_line_error(result)
        assert result.stdout == ""
    result = run_cli("info", "--nope")
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("edge-detect info: error: unrecognized arguments: --nope")


def test_help_usage_reads_as_the_readme(capsys):
    result = run_cli("--help")
    assert result.exit_code == 0
    usage = result.stdout.splitlines()[:2]
    assert usage[0] == "usage: edge-detect [OPTIONS] IMAGE..."
    assert usage[1].split()[:3] == ["edge-detect", "info", "[MODEL]"]
    assert "standard input" in result.stdout
    assert run_cli("info", "--help").stdout.startswith("usage: edge-detect info")
    version = run_cli("--version")
    assert version.exit_code == 0 and version.stdout.startswith("edge-detect ")


def test_options_may_follow_or_split_the_images(tiny_bundles, tmp_path):
    a, b = VALID_CASES["bmp"](tmp_path), VALID_CASES["tiff"](tmp_path)
    result = run_cli(a, "-m", tiny_bundles["fp32"], b, "--json")
    assert result.exit_code == 0, result.stderr
    assert [r["path"] for r in json_lines(result.stdout)] == [str(a), str(b)]
    # `detect` is still accepted as an explicit command name.
    again = run_cli("detect", a, b, "-m", tiny_bundles["fp32"], "--json")
    assert json_lines(again.stdout) == [
        {**r, "latency_ms": row["latency_ms"]}
        for r, row in zip(json_lines(result.stdout), json_lines(again.stdout), strict=True)
    ]


def test_dash_reads_one_image_from_stdin(tiny_bundles, tmp_path):
    image = VALID_CASES["bmp"](tmp_path)
    from_file = json_lines(run_cli(image, "-m", tiny_bundles["fp32"], "--json").stdout)[0]
    result = run_cli("-", "-m", tiny_bundles["fp32"], "--json", stdin=image.read_bytes())
    assert result.exit_code == 0, result.stderr
    (row,) = json_lines(result.stdout)
    assert row["path"] == "-"
    assert row["fake_probability"] == from_file["fake_probability"]
    empty = run_cli("-", "-m", tiny_bundles["fp32"], "--json", stdin=b"")
    assert empty.exit_code == 1 and "empty standard input" in json_lines(empty.stdout)[0]["error"]
    junk = run_cli("-", "-m", tiny_bundles["fp32"], "--json", stdin=b"not an image at all")
    assert junk.exit_code == 1
    assert json_lines(junk.stdout)[0]["error"].startswith("-: not an image file")


def _one_line_error(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("edge-detect: error: ")
    return lines[0]


def test_bad_model_exit_2_one_line(tmp_path):
    image = VALID_CASES["bmp"](tmp_path)
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(os.urandom(2048))
    empty = tmp_path / "empty.tflite"
    empty.write_bytes(b"")
    cases = {
        str(tmp_path / "missing.tflite"): "no such model file",
        str(junk): "not a TFLite model",
        str(empty): "empty model file",
        str(image): "not a TFLite model",
        str(tmp_path): "is a directory",
    }
    for model, reason in cases.items():
        result = run_cli(image, "--model", model)
        assert result.exit_code == 2, model
        assert reason in _one_line_error(result)
        assert result.stdout == ""


def test_model_that_does_not_fit_exit_2(tiny_bundles, tmp_path):
    from edge_runtime.bundle import sidecar_path

    model = tmp_path / "liar.tflite"
    shutil.copy(tiny_bundles["fp32"], model)
    meta = json.loads(sidecar_path(tiny_bundles["fp32"]).read_text())
    meta["preprocess"]["height"] = meta["preprocess"]["width"] = 64  # the model takes 32x32
    sidecar_path(model).write_text(json.dumps(meta))
    result = run_cli(VALID_CASES["bmp"](tmp_path), "--model", model)
    assert result.exit_code == 2
    assert "does not match its bundle metadata" in _one_line_error(result)


def test_verbose_names_backend_model_threads(tiny_bundles, tmp_path):
    result = run_cli(
        VALID_CASES["bmp"](tmp_path), "-m", tiny_bundles["int8"], "-v", "-t", "2", "--json"
    )
    assert result.exit_code == 0
    assert "backend: ai_edge_litert" in result.stderr or "backend: tflite_runtime" in result.stderr
    assert "threads: 2" in result.stderr
    assert str(tiny_bundles["int8"]) in result.stderr
    assert len(json_lines(result.stdout)) == 1  # stdout stays pure JSON


def test_progress_bar_on_stderr(tiny_bundles, tmp_path):
    for i in range(12):
        asymmetric_rgb(seed=i).save(tmp_path / f"face{i:02d}.png")
    result = run_cli(tmp_path, "-m", tiny_bundles["fp32"], "--json", "--progress")
    assert result.exit_code == 0
    assert "12/12" in result.stderr
    assert len(json_lines(result.stdout)) == 12
    quiet = run_cli(tmp_path, "-m", tiny_bundles["fp32"], "--json")  # not a terminal: no bar
    assert "12/12" not in quiet.stderr


def test_info_text_and_json(tiny_bundles):
    model = tiny_bundles["int8"]
    text = run_cli("info", model)
    assert text.exit_code == 0
    sha = hashlib.sha256(model.read_bytes()).hexdigest()
    for needle in (
        sha,
        "int8",
        "CONV_2D",
        "scale",
        "zero point",
        "min runtime version",
        "0=fake, 1=real",
        "highest op version used",
    ):
        assert needle in text.stdout, needle
    conv = next(line for line in text.stdout.splitlines() if line.strip().startswith("CONV_2D"))
    assert conv.split()[1:3] == ["op", "version"] and conv.split()[3].isdigit()
    report = json.loads(run_cli("info", model, "--json").stdout)
    assert report["sha256"] == sha and report["size_bytes"] == model.stat().st_size
    assert report["loads"] is True and report["backend"]
    facts = report["facts"]
    (inp,) = facts["inputs"]
    assert inp["dtype"] == "int8" and inp["shape"] == [1, 32, 32, 3]
    assert len(inp["quantization"]["scale"]) == 1 and inp["quantization"]["zero_point"]
    assert "CONV_2D" in facts["ops"] and "SOFTMAX" in facts["ops"]
    assert facts["min_runtime_version"]
    assert report["bundle"]["variant"] == "int8" and report["bundle"]["labels"] == ["fake", "real"]
    fp32 = json.loads(run_cli("info", tiny_bundles["fp32"], "--json").stdout)
    assert fp32["facts"]["inputs"][0]["dtype"] == "float32"
    assert fp32["facts"]["inputs"][0]["quantization"]["scale"] == []


def test_info_bad_model_exit_2(tmp_path):
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00\x00\x00\x00TFL3" + os.urandom(64))  # right identifier, garbage body
    result = run_cli("info", junk)
    assert result.exit_code == 2
    assert str(junk) in _one_line_error(result)


def test_expand_inputs_order_and_dedup(tmp_path):
    for name in ("b.jpg", "a.PNG", "c.txt"):
        (tmp_path / name).write_bytes(b"x")
    out = expand_inputs([str(tmp_path), str(tmp_path / "a.PNG"), str(tmp_path / "zz.jpg")])
    assert out.items == [str(tmp_path / "a.PNG"), str(tmp_path / "b.jpg"), str(tmp_path / "zz.jpg")]
    assert out.skipped_non_images == 1
    empty = tmp_path / "empty"
    empty.mkdir()
    (err,) = expand_inputs([str(empty)]).items
    assert isinstance(err, DetectionError) and "holds no images" in err.error
    (err,) = expand_inputs([""]).items
    assert isinstance(err, DetectionError) and "empty path" in err.error


@requires_shared_data
def test_subprocess_on_real_faces(tiny_bundles, tmp_path):
    """The real entry point (python -m edge_runtime) on faces from ../shared/data plus bad files."""
    faces = sample_images("test", "real", 2) + sample_images("test", "fake", 2)
    bad = BAD_CASES["html_renamed_png"][0](tmp_path)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "edge_runtime",
            *map(str, faces),
            str(bad),
            "-m",
            str(tiny_bundles["int8"]),
            "--json",
        ],
        check=False,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    rows = json_lines(proc.stdout)
    assert [r["path"] for r in rows] == [str(f) for f in faces] + [str(bad)]
    assert all("label" in r for r in rows[:-1]) and "error" in rows[-1]
    assert "Traceback" not in proc.stderr


@pytest.mark.skipif(
    not _default_model_present(),
    reason="the trained default model (int8 bundle in edge_runtime/models/) is not in this "
    "checkout yet",
)
def test_default_model_needs_no_flag(tmp_path):
    image = VALID_CASES["bmp"](tmp_path)
    result = run_cli(image, "--json", "--faces", "none")  # a synthetic image: no face to find
    assert result.exit_code == 0, result.stderr
    (row,) = json_lines(result.stdout)
    assert row["label"] in ("fake", "real") and row["model"].endswith("int8.tflite")
    report = json.loads(run_cli("info", "--json").stdout)
    assert report["loads"] and report["bundle"]["variant"] == "int8"
    assert report["facts"]["inputs"][0]["dtype"] in ("int8", "uint8")


def test_plain_tflite_says_once_what_it_assumed(tiny_bundles, tmp_path):
    plain = tmp_path / "plain.tflite"
    shutil.copy(tiny_bundles["fp32"], plain)
    images = [VALID_CASES[c](tmp_path) for c in ("bmp", "tiff")]
    result = run_cli(*images, "-m", plain, "--json")
    assert result.exit_code == 0, result.stderr
    warnings = [line for line in result.stderr.splitlines() if "warning" in line]
    assert len(warnings) == 1
    for needle in (
        str(plain),
        "plain.bundle.json",
        "32x32 input",
        "no crop",
        "(pixel - 127.5) / 127.5",
        "threshold 0.5 (the default)",
        "may differ",
    ):
        assert needle in warnings[0], needle
    with_sidecar = run_cli(*images, "-m", tiny_bundles["fp32"], "--json")
    assert "warning" not in with_sidecar.stderr
