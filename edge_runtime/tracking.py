"""Faces followed across sampled video frames, and the verdicts of tracks and clips.

The rule (edge_runtime/README.md, "Video files and cameras", says the same in prose):

1. **Prediction**: a track's face moves at constant velocity and changes size at a constant
   rate, both measured between its last two sightings; a track seen once is predicted where it
   was, with an unknown velocity.
2. **Gating**, in units of the predicted face size (the geometric mean of the box's sides), so
   the same rule holds for near and far faces and at any frame rate: a face may continue a
   track when its centre is within TRACK_GATE + slack x (seconds since the track was last seen)
   of the predicted centre (slack: TRACK_MAX_SPEED face sizes per second while the velocity is
   unknown, TRACK_SPEED_CHANGE once it is known), and its size is within TRACK_MAX_SCALE of the
   predicted size either way.
3. **Appearance** (only when the frame's pixels are given): the face's colour histogram must
   match the track's last one (Bhattacharyya coefficient >= TRACK_MIN_SIMILARITY). Geometry
   alone cannot tell apart two people at one place, as across a scene cut or where two faces
   cross. On 150 pairs of faces140k test faces (tests/test_tracking.py), one face under 4 %
   box jitter, JPEG and +-20 % scale gave 0.947 or more; two different faces gave at most
   0.903, and 0.9 or more once.
4. **Assignment**: the gated (face, track) pairs, closest to the prediction first (distance /
   gate radius), each face and track used once; an unmatched face starts a new track.
5. **Skipped frames**: a track stays live while it has missed at most TRACK_MAX_MISSES sampled
   frames or was seen at most TRACK_MAX_GAP_S seconds ago; its gate widens with the gap.

Verdicts: a track's P(fake) is the mean of its judged frames' P(fake) (frames where the face was
too small to judge count as seen, not judged), its label the project's decision rule
(`types.label_for`). The clip's verdict is its most-fake track's (highest mean P(fake)) among
the tracks judged in at least TRACK_MIN_FRAMES sampled frames, or among all judged tracks when
none was: a face seen in one sampled frame only is most often a false detection in the
background. So a fake face seen in several sampled frames decides the clip at any frame rate
that samples it more than once.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from .types import Face, label_for

TRACK_GATE = 0.6  # face sizes: detector jitter and a small unexpected move, at any gap
TRACK_MAX_SPEED = 3.0  # face sizes per second a face of unknown velocity may have moved
TRACK_SPEED_CHANGE = 1.0  # face sizes per second of gap the prediction may be off by
TRACK_MAX_SCALE = 1.6  # a face's size may differ from the predicted one by this factor
TRACK_MIN_SIMILARITY = 0.9  # colour histograms (Bhattacharyya coefficient) of one person
TRACK_MAX_MISSES = 2  # sampled frames a track may miss and still continue
TRACK_MAX_GAP_S = 1.0  # ... or seconds since it was last seen, whichever allows more
# A track judged in fewer frames than this is listed but decides the clip only when no track has
# that many: a face seen once in a clip is most often a false detection in the background.
TRACK_MIN_FRAMES = 2
HISTOGRAM_BINS = 8  # per colour channel
HISTOGRAM_SIDE = 32  # the face's inner square is reduced to this many pixels a side first
HISTOGRAM_INNER = 0.8  # share of the box side around its centre: mostly face, little background


def colour_signature(image, box) -> np.ndarray | None:
    """A face's appearance for tracking: the square root of the normalised RGB histogram of the
    inner part of its box (within the frame), so that the dot product of two signatures is their
    Bhattacharyya coefficient (1: the same colours). None when too little of it is in the frame."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    half = max(x1 - x0, y1 - y0) * HISTOGRAM_INNER / 2
    region = (
        max(cx - half, 0),
        max(cy - half, 0),
        min(cx + half, image.width),
        min(cy + half, image.height),
    )
    if region[2] - region[0] < 2 or region[3] - region[1] < 2:
        return None
    side = HISTOGRAM_SIDE
    patch = image.resize((side, side), Image.Resampling.BOX, box=region)
    if patch.mode != "RGB":
        patch = patch.convert("RGB")
    q = np.asarray(patch, np.int32) * HISTOGRAM_BINS // 256
    index = (q[..., 0] * HISTOGRAM_BINS + q[..., 1]) * HISTOGRAM_BINS + q[..., 2]
    counts = np.bincount(index.reshape(-1), minlength=HISTOGRAM_BINS**3)
    return np.sqrt(counts / counts.sum())


@dataclass(frozen=True)
class Track:
    """One face followed across sampled frames, and its verdict (see the module docstring)."""

    id: int
    frames: int  # sampled frames it was seen in
    judged_frames: int  # of those, frames where it was big enough to classify
    mean_fake_probability: float | None
    max_fake_probability: float | None
    fake_share: float | None  # share of judged frames whose own verdict was fake
    label: str | None  # label_for(mean P(fake)); None when never judged
    first_s: float
    last_s: float
    box: tuple[int, int, int, int]  # at its most-fake frame (the last seen when never judged)
    score: float  # best detector score

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["box"] = list(self.box)
        return d

    def as_face(self) -> Face:
        """The track in a still image's face shape (the `faces` key of a clip's result)."""
        return Face(
            self.box,
            self.score,
            self.label,
            self.mean_fake_probability,
            too_small=self.label is None,
        )


def _centre_size(box) -> tuple[float, float, float]:
    x0, y0, x1, y1 = box
    return (x0 + x1) / 2, (y0 + y1) / 2, math.sqrt(max(x1 - x0, 1) * max(y1 - y0, 1))


@dataclass
class _TrackState:
    id: int
    last_frame: int  # sampled-frame number it was last seen in
    seen: list[tuple[float, Face]] = field(default_factory=list)
    signature: np.ndarray | None = None  # colour_signature at its last sighting

    def predict(self, t: float) -> tuple[float, float, float, float]:
        """Centre x, y, size at time t, and the gate radius in face sizes."""
        t1, last = self.seen[-1]
        x, y, s = _centre_size(last.box)
        gap = max(t - t1, 0.0)
        if len(self.seen) < 2 or self.seen[-2][0] >= t1:
            return x, y, s, TRACK_GATE + TRACK_MAX_SPEED * gap
        t0, prev = self.seen[-2]
        px, py, ps = _centre_size(prev.box)
        k = gap / (t1 - t0)  # constant velocity and size rate over the gap
        size = min(max(s + (s - ps) * k, s / TRACK_MAX_SCALE, 1.0), s * TRACK_MAX_SCALE)
        return x + (x - px) * k, y + (y - py) * k, size, TRACK_GATE + TRACK_SPEED_CHANGE * gap

    def cost(self, face: Face, t: float, signature: np.ndarray | None) -> float | None:
        """Distance to the prediction over the gate radius (< 1), or None outside the gates."""
        px, py, ps, radius = self.predict(t)
        x, y, s = _centre_size(face.box)
        if not 1 / TRACK_MAX_SCALE <= s / ps <= TRACK_MAX_SCALE:
            return None
        distance = math.hypot(x - px, y - py) / ps
        if distance > radius:
            return None
        if signature is not None and self.signature is not None:
            if float(signature @ self.signature) < TRACK_MIN_SIMILARITY:
                return None  # another person at the predicted place
        return distance / radius


class Tracker:
    """Links the faces of consecutive sampled frames into tracks (see the module docstring)."""

    def __init__(self):
        self._tracks: list[_TrackState] = []
        self._frame = -1

    def _live(self, t: float) -> list[_TrackState]:
        return [
            tr
            for tr in self._tracks
            if self._frame - tr.last_frame <= TRACK_MAX_MISSES + 1
            or t - tr.seen[-1][0] <= TRACK_MAX_GAP_S
        ]

    def update(self, faces: Iterable[Face], time_s: float, image=None) -> tuple[int, ...]:
        """Assign each face of the next sampled frame to a track; returns the track ids.
        image: the frame (PIL), for the appearance check; without it geometry alone decides."""
        self._frame += 1
        faces = list(faces)
        signatures = [None if image is None else colour_signature(image, f.box) for f in faces]
        live = self._live(time_s)
        pairs = []
        for i, (face, signature) in enumerate(zip(faces, signatures)):
            for j, track in enumerate(live):
                cost = track.cost(face, time_s, signature)
                if cost is not None:
                    pairs.append((cost, i, j))
        pairs.sort()
        chosen: dict[int, _TrackState] = {}
        used: set[int] = set()
        for _, i, j in pairs:
            if i not in chosen and j not in used:
                chosen[i] = live[j]
                used.add(j)
        ids = []
        for i, face in enumerate(faces):
            track = chosen.get(i)
            if track is None:
                track = _TrackState(len(self._tracks) + 1, self._frame)
                self._tracks.append(track)
            track.last_frame = self._frame
            track.seen.append((time_s, face))
            track.signature = signatures[i]
            ids.append(track.id)
        return tuple(ids)

    def summaries(self, threshold: float) -> list[Track]:
        return [_summary(t, threshold) for t in self._tracks]


def _summary(track: _TrackState, threshold: float) -> Track:
    judged = [f.fake_probability for _, f in track.seen if f.fake_probability is not None]
    times = [t for t, _ in track.seen]
    if judged:
        mean = sum(judged) / len(judged)
        top = max(
            track.seen,
            key=lambda s: -1.0 if s[1].fake_probability is None else s[1].fake_probability,
        )
        box = top[1].box
        fake_share = sum(1 for p in judged if label_for(p, threshold) == "fake") / len(judged)
        mean_p, max_p, label = round(mean, 6), max(judged), label_for(mean, threshold)
    else:
        box = track.seen[-1][1].box
        mean_p = max_p = fake_share = label = None
    return Track(
        id=track.id,
        frames=len(track.seen),
        judged_frames=len(judged),
        mean_fake_probability=mean_p,
        max_fake_probability=max_p,
        fake_share=None if fake_share is None else round(fake_share, 4),
        label=label,
        first_s=round(min(times), 3),
        last_s=round(max(times), 3),
        box=tuple(box),
        score=max(f.score for _, f in track.seen),
    )


def most_fake(tracks: Iterable[Track]) -> Track | None:
    """The track the clip's verdict comes from: the highest mean P(fake) among the judged tracks
    with at least TRACK_MIN_FRAMES judged frames (all judged tracks when none has that many)."""
    judged = [t for t in tracks if t.mean_fake_probability is not None]
    if not judged:
        return None
    enough = min(TRACK_MIN_FRAMES, max(t.judged_frames for t in judged))
    return max(
        (t for t in judged if t.judged_frames >= enough), key=lambda t: t.mean_fake_probability
    )
