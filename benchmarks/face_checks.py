"""Checks of the face stage on shared and generated images (run through benchmarks.face_stage).

`phantoms`: false faces per image on the face-free set (benchmarks/face_free.py) and face images
left without a face, for the second look off and at several thresholds, from one pass.
`crops`: the aligned crops of 200 shared images (what training caches, workbench/crops.py),
saved, or compared with an earlier save: the "train as you infer" check that a change to the
face stage leaves the crops of ordinary faces as they were.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from benchmarks.face_scenes import DATA
from edge_runtime import faces as faces_module
from edge_runtime.detector import Detector
from edge_runtime.types import DetectorOptions, FaceOptions, usable_cores


def _machine() -> str:
    import platform

    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{usable_cores()}-core {platform.machine()} {model}".strip()


# Sources of `crops`: one stride-sampled share of each folder under ../shared/data.
CROP_SOURCES = (
    "faces140k_sample/test/real",
    "faces140k_sample/test/fake",
    "ciplab_real_and_fake/real",
    "ciplab_real_and_fake/fake",
    "lfw_faceswap/real",
    "lfw_faceswap/fake",
    "sd21_faces/fake",
    "ytf_frames/real",
    "rmfd_nomask/real",
    "maskdet_web_nomask/real",
    "webcam_liveness/real",
    "imfdb_movie/real",
    "utkface_200/real",
    "ecuador_flux/real",
    "ecuador_flux/fake",
    "ffpp_c23/fake",
    "unsplash_tpdne_300/real",
    "tpdne_256/fake",
    "ffhq_tpdne_128/real",
    "ffhq_tpdne_128/fake",
)


def crop_sample(n: int) -> list[Path]:
    """n images spread evenly over CROP_SOURCES (every k-th file of each folder)."""
    per = math.ceil(n / len(CROP_SOURCES))
    out = []
    for sub in CROP_SOURCES:
        files = sorted((DATA / sub).glob("*.jpg"))
        out += files[:: max(1, len(files) // per)][:per]
    return out[:n]


def _aligned(det: Detector, paths: list[Path]) -> dict[str, tuple[list[int], np.ndarray]]:
    """Every judged face's aligned image (what training caches), keyed 'file#i'."""
    out = {}
    for path in paths:
        faces = faces_module.align_faces(path, det.face_finder, det.spec, det.face_options)
        for i, f in enumerate(x for x in faces if x.image is not None):
            out[f"{path.relative_to(DATA)}#{i}"] = (list(f.box), np.asarray(f.image))
    return out


class _TilesOnlyWithoutWholeLookFace(faces_module.FaceFinder):
    """The trial of `crops --trial-skip-tiles`: a coarse-to-fine search that runs the tiles only
    when the whole-image look found no face (what that would do to the crops)."""

    def _windows(self, img, keep=None):
        windows = super()._windows(img, keep)
        whole = next(windows)
        yield whole
        if not len(self._run(whole[1])[2]):
            yield from windows


def crops(save: str | None, compare: str | None, n: int, trial_skip_tiles: bool = False) -> int:
    """Save the aligned crops of n shared images, or compare them with an earlier save: faces
    matched by box (IoU >= 0.5), max / mean absolute pixel difference of the matched crops."""
    from benchmarks.face_scenes import iou

    det = Detector(DetectorOptions(num_threads=1, faces=FaceOptions()))
    if trial_skip_tiles:
        det.face_finder.__class__ = _TilesOnlyWithoutWholeLookFace
    paths = crop_sample(n)
    now = _aligned(det, paths)
    if save:
        arrays = {f"img:{k}": v[1] for k, v in now.items()}
        arrays |= {f"box:{k}": np.asarray(v[0]) for k, v in now.items()}
        np.savez_compressed(save, **arrays)
        print(f"{len(paths)} images, {len(now)} judged faces -> {save}")
        return 0
    old_npz = np.load(compare)
    old = {k[4:]: (old_npz[f"box:{k[4:]}"], old_npz[k]) for k in old_npz.files if k[:4] == "img:"}
    by_file: dict[str, list] = {}
    for k, v in now.items():
        by_file.setdefault(k.split("#")[0], []).append(v)
    diffs, lost, shape = [], [], 0
    for k, (box, img) in old.items():
        match = [v for v in by_file.get(k.split("#")[0], []) if iou(v[0], box) >= 0.5]
        if not match:
            lost.append(k)
            continue
        new = max(match, key=lambda v: iou(v[0], box))[1]
        if new.shape != img.shape:
            shape += 1
            continue
        diffs.append(np.abs(new.astype(np.int16) - img.astype(np.int16)))
    gained = len(now) - (len(old) - len(lost))
    worst = max((int(d.max()) for d in diffs), default=0)
    mean = float(np.mean([d.mean() for d in diffs])) if diffs else 0.0
    over = sum(int(d.max()) > 1 for d in diffs)
    print(
        f"{len(paths)} images: {len(old)} faces before, {len(now)} now; {len(diffs)} matched "
        f"crops: max abs difference {worst}, mean {mean:.4f} grey levels, {over} crops over 1; "
        f"{shape} of another size; lost {len(lost)}, gained {max(gained, 0)}"
    )
    for k in lost:
        print(f"  lost: {k}")
    return 0


VERIFY_SWEEP = (None, 0.6, 0.64, 0.66, 0.68, 0.7, 0.72, 0.75)


def _verified(finder, img) -> list[tuple[float, float]]:
    """(first score, verified score) of every detection the first look keeps."""
    found = finder.find(img)
    return [(f.score, finder.second_look(img, f)) for f in found]


def phantoms(photo_dir: Path | None, per_source: int, threads: int) -> int:
    """False faces per face-free image and faces kept on the face sets, for the second look
    off (None) and at several VERIFY_MIN_SCORE values, from one pass over the images."""
    from benchmarks.face_free import face_free_set, skimage_data_dir
    from edge_runtime.interpreter import load_backend
    from edge_runtime.preprocess import load_image_scaled

    min_score = FaceOptions().min_score
    finder = faces_module.FaceFinder(
        load_backend(), threads, min_score=min_score, verify_min_score=None
    )
    # Before issue 21: no second look and no edge search.
    before = faces_module.FaceFinder(
        load_backend(), threads, min_score=min_score, verify_min_score=None, edges=False
    )
    photo_dir = photo_dir or skimage_data_dir()
    free = face_free_set(photo_dir)
    free_scores = [(name, _verified(finder, img)) for name, img in free]
    free_before = [len(before.find(img)) for _, img in free]
    paths = crop_sample(per_source * len(CROP_SOURCES))
    face_scores, face_before = [], []
    for path in paths:
        img, _ = load_image_scaled(path, faces_module.FIND_DECODE_SHORT_SIDE)
        face_scores.append((str(path.relative_to(DATA)), _verified(finder, img)))
        face_before.append(not before.find(img))
    kinds = sorted({name.split("/")[0] for name, _ in free})
    counts = ", ".join(f"{sum(n.startswith(k + '/') for n, _ in free)} {k}" for k in kinds)
    print(
        f"{_machine()}; face-free set: {len(free)} images ({counts}; photos from "
        f"{photo_dir or 'nowhere: no --photos DIR and no skimage'}); face sets: "
        f"{len(paths)} images, {per_source} per folder of {len(CROP_SOURCES)}"
    )
    print(
        "| second look | false faces / image | face-free images with a face | face images "
        "with no face |"
    )
    print("|---|---|---|---|")
    print(
        f"| before issue 21 (no second look, no edge search) | {np.mean(free_before):.3f} "
        f"({sum(free_before)}) | {sum(f > 0 for f in free_before)} of {len(free_before)} | "
        f"{sum(face_before)} of {len(face_before)} |"
    )
    for t in VERIFY_SWEEP:

        def kept(dets, t=t):
            return [d for d in dets if t is None or d[1] >= t]

        false = [len(kept(d)) for _, d in free_scores]
        missed = [not kept(d) for _, d in face_scores]
        label = "off (edge search on)" if t is None else f">= {t}"
        if t == faces_module.VERIFY_MIN_SCORE:
            label += " (default)"
        print(
            f"| {label} | {np.mean(false):.3f} ({sum(false)}) | "
            f"{sum(f > 0 for f in false)} of {len(false)} | {sum(missed)} of {len(missed)} |"
        )
    t = faces_module.VERIFY_MIN_SCORE
    print("\nface-free detections (first score, verified score):")
    for name, dets in free_scores:
        if dets:
            marks = ", ".join(f"{a:.3f}/{b:.3f}{'' if b < t else ' KEPT'}" for a, b in dets)
            print(f"  {name}: {marks}")
    print("face images with no face at the default:")
    for name, dets in face_scores:
        if not [d for d in dets if d[1] >= t]:
            print(f"  {name}: {', '.join(f'{a:.3f}/{b:.3f}' for a, b in dets) or 'none found'}")
    return 0
