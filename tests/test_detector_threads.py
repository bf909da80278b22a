"""One Detector shared by threads, and the pipelined detect_many: same answers as one thread,
in input order, one error per bad file, bounded read-ahead."""

from __future__ import annotations

import json
import threading
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
from PIL import Image

from edge_runtime.detector import PREFETCH_PER_WORKER, Detector, decode_workers
from edge_runtime.types import Detection, DetectionError, DetectorOptions
from tests.conftest import REPO, have_shared_data, sample_images

SAMPLE = REPO / "edge_runtime" / "samples" / "astronaut_face.jpg"


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> list[str]:
    """Distinct real inputs: the packaged face, test faces when present, crops of the face."""
    out = tmp_path_factory.mktemp("faces")
    paths = [str(SAMPLE)]
    if have_shared_data():
        paths += [
            str(p) for p in sample_images("test", "real", 6) + sample_images("test", "fake", 6)
        ]
    with Image.open(SAMPLE) as face:
        face = face.convert("RGB")
        for i in range(8):  # shifted, mirrored and rotated views: different P(fake) each
            view = face.crop((4 * i, 2 * i, face.width - 3 * i, face.height - 4 * i))
            if i % 2:
                view = view.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
            view = view.rotate(5 * i)
            path = out / f"view{i}.jpg"
            view.save(path, quality=90)
            paths.append(str(path))
    return paths


@pytest.fixture(scope="module")
def detector() -> Detector:
    return Detector(DetectorOptions(model="int8", num_threads=2))


def test_threads_sharing_a_detector_get_the_single_thread_results(detector, images):
    expected = {p: detector.detect(p).fake_probability for p in images}
    assert len(set(expected.values())) > len(images) // 2  # the inputs really differ
    work = images * 6
    barrier = threading.Barrier(4)

    def run(offset: int) -> list[tuple[str, float]]:
        barrier.wait()  # all four start together
        order = work[offset:] + work[:offset]
        return [(p, detector.detect(p).fake_probability) for p in order]

    with ThreadPoolExecutor(4) as pool:
        results = [r for chunk in pool.map(run, range(0, 4 * 7, 7)) for r in chunk]
    assert len(results) == 4 * len(work)
    wrong = [(p, got, expected[p]) for p, got in results if got != expected[p]]
    assert not wrong, f"{len(wrong)} results differ from one thread's, e.g. {wrong[:3]}"


def test_classify_from_threads_matches(detector, images):
    prepared = [detector.prepare(p) for p in images]
    expected = [detector.classify(p) for p in prepared]
    with ThreadPoolExecutor(4) as pool:
        got = list(pool.map(detector.classify, prepared * 4))
    assert got == expected * 4


@pytest.mark.parametrize("workers", [0, 1, 3])
def test_detect_many_is_in_order_with_one_error_per_bad_file(detector, images, tmp_path, workers):
    bad_empty = tmp_path / "empty.jpg"
    bad_empty.write_bytes(b"")
    bad_text = tmp_path / "text.jpg"
    bad_text.write_text("not an image")
    sources = [
        images[0],
        str(bad_empty),
        *images[1:5],
        str(bad_text),
        str(tmp_path / "missing.png"),
    ]
    results = list(detector.detect_many(sources, workers=workers))
    assert [r.path for r in results] == sources
    kinds = [type(r) for r in results]
    assert kinds == [Detection, DetectionError, *[Detection] * 4, DetectionError, DetectionError]
    errors = [r.error for r in results if isinstance(r, DetectionError)]
    assert "empty file" in errors[0] and str(bad_empty) in errors[0]
    assert all(e.count("\n") == 0 for e in errors)
    single = [
        detector.detect(s).fake_probability
        for s in sources
        if isinstance(s, str) and not s.startswith(str(tmp_path))
    ]
    assert [r.fake_probability for r in results if isinstance(r, Detection)] == single


def test_detect_many_reads_ahead_a_bounded_number(detector, images):
    """A lazy source of 200 inputs: never more than PREFETCH_PER_WORKER x workers taken ahead
    of the result the caller is reading."""
    taken = 0
    ahead = []

    def sources():
        nonlocal taken
        for i in range(200):
            taken += 1
            yield images[i % len(images)]

    for done, result in enumerate(detector.detect_many(sources(), workers=2), start=1):
        assert isinstance(result, Detection)
        ahead.append(taken - done)
    assert max(ahead) <= PREFETCH_PER_WORKER * 2
    assert taken == 200


def test_detect_many_accepts_arrays_and_pil_images(detector):
    with Image.open(SAMPLE) as img:
        rgb = img.convert("RGB")
    arr = np.asarray(rgb)
    results = list(detector.detect_many([rgb, arr, str(SAMPLE)], workers=2))
    assert len({r.fake_probability for r in results}) == 1


def test_decode_workers_rule():
    assert decode_workers(None, num_threads=1, cores=4) == 3
    assert decode_workers(None, num_threads=2, cores=4) == 2
    assert decode_workers(None, num_threads=4, cores=4) == 1  # always one decode thread
    assert decode_workers(None, num_threads=2, cores=2, faces=True) == 2  # face stage: heavy
    assert decode_workers(0, num_threads=2, cores=2) == 0  # the sequential loop
    assert decode_workers(5, num_threads=2, cores=2) == 5
    with pytest.raises(ValueError, match="workers"):
        decode_workers(-1, num_threads=1, cores=2)


def test_cli_workers_flag_gives_the_sequential_answers(images, tmp_path):
    from tests.test_cli import run_cli

    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8 not really a jpeg")
    args = ["--json", "--threads", "1", *images[:6], str(bad), *images[6:9]]
    sequential = run_cli("--workers", "0", *args)
    pipelined = run_cli("--workers", "2", *args)
    assert sequential.exit_code == pipelined.exit_code == 1  # one input failed
    strip = [
        [
            {k: v for k, v in json.loads(line).items() if k != "latency_ms"}
            for line in r.stdout.splitlines()
        ]
        for r in (sequential, pipelined)
    ]
    assert strip[0] == strip[1] and len(strip[0]) == 10
    assert strip[0][6]["path"] == str(bad) and "error" in strip[0][6]
    usage = run_cli("--workers", "-1", images[0])
    assert usage.exit_code == 2 and "--workers" in usage.stderr


def test_an_interpreter_pool_gives_the_single_thread_results(images):
    pooled = Detector(DetectorOptions(model="int8", num_threads=1, interpreters=3))
    expected = {p: pooled.detect(p).fake_probability for p in images}
    assert pooled.interpreters_made == 1  # one caller: one interpreter
    barrier = threading.Barrier(6)

    def run(offset: int) -> list[tuple[str, float]]:
        barrier.wait()
        order = images[offset:] + images[:offset]
        return [(p, pooled.detect(p).fake_probability) for p in order * 3]

    with ThreadPoolExecutor(6) as pool:
        results = [r for chunk in pool.map(run, range(6)) for r in chunk]
    assert all(got == expected[p] for p, got in results)
    assert 1 < pooled.interpreters_made <= 3  # six callers, never more than asked
    with pytest.raises(ValueError, match="interpreters"):
        Detector(DetectorOptions(model="int8", num_threads=1, interpreters=0))


def test_detect_many_with_an_interpreter_pool_classifies_on_the_workers(detector, images):
    pooled = Detector(DetectorOptions(model="int8", num_threads=1, interpreters=2, workers=2))
    expected = [detector.detect(p).fake_probability for p in images]
    got = list(pooled.detect_many([*images, "/nonexistent/x.jpg"]))
    assert [r.fake_probability for r in got[:-1]] == expected
    assert isinstance(got[-1], DetectionError) and "no such file" in got[-1].error
