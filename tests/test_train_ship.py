"""Issue 18's ship rule (train/ship.py): each check on hand-made per-source reports (no TF, no
data), then end to end through the CLI on the committed tiny bundles and a generated crop tree."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from train.errors import ConfigError
from train.ship import (
    AGREEMENT_LIMIT,
    INT8_SIZE_LIMIT,
    RECALL_FLOORS,
    decide,
    render,
    ships,
)
from train.sources import load_sources

SOURCES = load_sources()
N = 200
THRESHOLD = 0.5


def _report(rates: dict[str, float] | None = None, default: float = 0.99, flip=None) -> dict:
    """An `evaluate --sources --json`-shaped report: per source, the share called correctly
    (`rates`, else `default`) and the per-image P(fake) that gives it; flip: {source: k} turns
    the verdict of its first k images (for the int8-vs-float agreement)."""
    rates, flip = rates or {}, flip or {}
    sets = []
    for s in SOURCES.sources:
        right = round(rates.get(s.name, default) * N)
        p_right, p_wrong = (0.9, 0.1) if s.class_name == "fake" else (0.1, 0.9)
        p = [p_right] * right + [p_wrong] * (N - right)
        p = [1.0 - v if i < flip.get(s.name, 0) else v for i, v in enumerate(p)]
        correct = sum((v >= THRESHOLD) == (s.class_name == "fake") for v in p)
        sets.append(
            {
                "set": f"{s.name} ({s.family})",
                "n": N,
                "accuracy": correct / N,
                "threshold": THRESHOLD,
                "p_fake": {f"{s.name}/{i}.png": v for i, v in enumerate(p)},
            }
        )
    return {"threshold": THRESHOLD, "sets": sets}


GOOD = _report()


def _missed(checks) -> set[str]:
    return {c.name for c in checks if c.gated and not c.ok}


def _decide(int8=None, flt=None, current=None, size=INT8_SIZE_LIMIT, sources_file=None):
    return decide(current or GOOD, int8 or GOOD, flt or int8 or GOOD, size, sources_file)


def test_a_candidate_within_every_limit_ships():
    checks = _decide()
    assert ships(checks) and not _missed(checks)
    text = render(checks)
    assert text.splitlines()[-1].startswith("SHIP: all ")
    gated = [c for c in checks if c.gated]
    # one FPR check per real source (evaluation-only included), one recall per floored family
    # source, the 140k check, the size, one agreement per source
    reals = [s for s in SOURCES.sources if s.class_name == "real"]
    floored = [
        s
        for s in SOURCES.sources
        if s.class_name == "fake" and not s.evaluation_only and s.family in RECALL_FLOORS
    ]
    assert len(gated) == len(reals) + len(floored) + 2 + len(SOURCES.sources)
    assert "ciplab_real false-positive rate" in {c.name for c in gated}


def test_each_real_sources_false_positive_rate_is_gated_on_its_own():
    checks = _decide(_report({"ytf_real": 0.94}))  # 6 % of its reals called fake
    assert _missed(checks) == {"ytf_real false-positive rate"} and not ships(checks)
    line = next(c.line() for c in checks if c.name == "ytf_real false-positive rate")
    assert line == "MISS  ytf_real false-positive rate 0.060 > 0.050 (-1.0 pp; n=200)"
    assert render(checks).splitlines()[-1].startswith("KEEP: 1 of ")
    # exactly 5 % passes; the evaluation-only CIPLAB reals are gated too
    assert ships(_decide(_report({"ytf_real": 0.95})))
    assert _missed(_decide(_report({"ciplab_real": 0.90}))) == {"ciplab_real false-positive rate"}


@pytest.mark.parametrize("family", sorted(RECALL_FLOORS))
def test_each_family_floor_comes_from_the_one_table(family):
    floor = RECALL_FLOORS[family]
    gated = [
        s
        for s in SOURCES.sources
        if s.family == family and s.class_name == "fake" and not s.evaluation_only
    ]
    assert gated, f"no trainable source of family {family} in train/sources.json"
    for s in gated:
        # the current model alike, so the 140k check stays out of it
        at = _report({s.name: floor})
        assert ships(_decide(at, current=at))  # at the floor: passes
        below = _report({s.name: floor - 1 / N})
        assert _missed(_decide(below, current=below)) == {f"{s.name} recall"}


def test_the_recall_line_says_by_how_much():
    checks = _decide(_report({"ffpp_fake": 0.62}))
    line = next(c.line() for c in checks if c.name == "ffpp_fake recall")
    assert line == "MISS  ffpp_fake recall 0.620 < 0.700 (-8.0 pp; n=200)"


def test_evaluation_only_fakes_and_unknown_families_are_reported_not_gated(tmp_path):
    ood = _report({"ciplab_fake": 0.0, "lfw_faceswap_fake": 0.0})
    checks = _decide(ood)
    assert ships(checks)
    info = {c.name: c.line() for c in checks if not c.gated}
    assert info["ciplab_fake recall"].startswith("info  ciplab_fake recall 0.000 (evaluation-only")
    # a trainable fake source of a family the table does not know: reported, not gated
    data = json.loads(SOURCES.path and open(SOURCES.path, encoding="utf-8").read())
    for e in data["sources"]:
        if e["name"] == "tpdne256_fake":
            e["family"] = "newgan"
    other = tmp_path / "sources.json"
    other.write_text(json.dumps(data))
    checks = _decide(_report({"tpdne256_fake": 0.0}), sources_file=str(other))
    assert ships(checks)
    line = next(c.line() for c in checks if c.name == "tpdne256_fake recall")
    assert "no floor for family newgan" in line


def test_140k_accuracy_within_2pp_of_the_current_model():
    worse = {"faces140k_real": 0.97, "faces140k_fake": 0.97}  # current 0.99: -2.0 pp
    assert ships(_decide(_report(worse)))
    worse = {"faces140k_real": 0.965, "faces140k_fake": 0.97}  # -2.25 pp
    checks = _decide(_report(worse))
    assert _missed(checks) == {"faces140k_sample accuracy - current"}
    line = next(c.line() for c in checks if c.name.startswith("faces140k_sample"))
    assert "-2.25 pp < -2.00 pp (-0.2 pp; accuracy 0.9675 vs current 0.9900; n=400)" in line
    # better than the current model by any margin passes; the current report needs only 140k
    current = _report(default=0.5)
    current["sets"] = [r for r in current["sets"] if r["set"].startswith("faces140k")]
    assert ships(_decide(current=current))


def test_int8_file_size_limit():
    assert ships(_decide(size=INT8_SIZE_LIMIT))
    checks = _decide(size=INT8_SIZE_LIMIT + 10_000)
    assert _missed(checks) == {"int8 file"}
    assert "MISS  int8 file 4.51 MB > 4.50 MB (-0.01 MB)" in render(checks)


def test_int8_float_agreement_per_source_evaluation_only_too():
    allowed = round((1 - AGREEMENT_LIMIT) * N)  # 6 of 200 images may change verdict
    name = "lfw_faceswap_fake"
    assert ships(_decide(GOOD, _report(flip={name: allowed})))
    checks = _decide(GOOD, _report(flip={name: allowed + 1}))
    assert _missed(checks) == {f"{name} int8-vs-float agreement"}
    # the verdict compares each model at its own threshold
    shifted = _report()
    for row in shifted["sets"]:
        row["p_fake"] = {k: v * 0.5 for k, v in row["p_fake"].items()}  # 0.45 / 0.05
        row["threshold"] = 0.25
    assert ships(_decide(GOOD, shifted))


def test_reports_without_rows_or_per_image_scores_are_refused():
    with pytest.raises(ConfigError, match="--sources"):
        decide(GOOD, {"sets": []}, GOOD, 1)
    old = _report()
    for row in old["sets"]:
        del row["p_fake"]
    with pytest.raises(ConfigError, match="per-image p_fake"):
        decide(GOOD, GOOD, old, 1)
    elsewhere = _report()
    for row in elsewhere["sets"]:
        row["p_fake"] = {"/other/root/" + k: v for k, v in row["p_fake"].items()}
    with pytest.raises(ConfigError, match="same --data"):
        decide(GOOD, GOOD, elsewhere, 1)


def test_every_bundled_model_name_is_a_model_for_the_train_commands():
    # evaluate / stability / ship-check take the names -m takes (v1-int8, v2-int8, ...)
    from edge_runtime.registry import model_names
    from train.evaluate import RuntimeScorer, make_scorer

    for name in model_names():
        assert isinstance(make_scorer(name, num_threads=1), RuntimeScorer), name


# --- end to end: the CLI on the tiny bundles and a crop tree made here -----------------------


def _crop_tree(root, rng) -> dict:
    """A prepare-crops-shaped tree (x.jpg.crop.png) and a sources file naming its folders."""

    def images(folder, n):
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n):
            base = rng.uniform(0, 255, 3) * np.linspace(0.2, 1, 40)[:, None, None]
            noise = rng.normal(0, rng.uniform(5, 60), (40, 40, 3))
            pixels = np.clip(base + noise, 0, 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / f"img{i:03d}.jpg.crop.png")

    for split, n in (("train", 2), ("valid", 2), ("test", 6)):
        for cls in ("real", "fake"):
            images(root / "faces140k_sample" / split / cls, n)
    images(root / "cam" / "real", 40)
    images(root / "cam" / "fake", 40)
    images(root / "swaps" / "fake", 5)
    entry = {"native_size": 40, "compression": "PNG crops"}
    sources = [
        {"name": "faces140k_real", "folder": "faces140k_sample", "class": "real"},
        {"name": "faces140k_fake", "folder": "faces140k_sample", "class": "fake"},
        {"name": "cam_real", "folder": "cam", "class": "real", "splits": "hash"},
        {"name": "cam_fake", "folder": "cam", "class": "fake", "splits": "hash"},
        {"name": "swap_fake", "folder": "swaps", "class": "fake", "splits": "all"},
    ]
    families = ["real", "stylegan1", "real", "stylegan2", "faceswap"]
    for s, family in zip(sources, families):
        s.update(entry, family=family)
        s.setdefault("splits", "folders")
    sources[-1]["evaluation_only"] = True
    fractions = {"train": 0.5, "valid": 0.1, "test": 0.4}
    return {"split_salt": "ship-test", "split_fractions": fractions, "sources": sources}


def test_ship_check_end_to_end_on_the_tiny_bundles(tiny_bundles, tmp_path, capsys):
    from train.cli import main

    crops = tmp_path / "crops"
    sources_file = tmp_path / "sources.json"
    sources_file.write_text(json.dumps(_crop_tree(crops, np.random.default_rng(0))))
    int8, fp32 = str(tiny_bundles["int8"]), str(tiny_bundles["fp32"])
    common = ["--sources", str(sources_file), "--data", str(crops), "--num-threads", "1"]
    # the float model through a saved evaluate report, the others evaluated by ship-check
    float_report = tmp_path / "float.json"
    assert main(["evaluate", fp32, *common, "--json", str(float_report)]) == 0
    capsys.readouterr()  # evaluate's own table
    out = tmp_path / "ship.json"
    models = [int8, str(float_report), "--current", int8]
    rc = main(["ship-check", *models, *common, "--json", str(out)])
    lines = capsys.readouterr().out.strip().splitlines()
    doc = json.loads(out.read_text())
    assert rc == (0 if doc["ship"] else 1)
    assert lines[-1].split(":")[0] == ("SHIP" if doc["ship"] else "KEEP")
    names = [c["name"] for c in doc["checks"]]
    assert len(lines) == len(names) + 1
    # 2 FPR, 3 recall (swap_fake reported only), 140k, size, 5 agreements
    assert len(names) == 12 and not doc["checks"][names.index("swap_fake recall")]["gated"]
    by_name = {c["name"]: c for c in doc["checks"]}
    # the candidate is the current model here: no 140k drop
    assert by_name["faces140k_sample accuracy - current"]["value"] == 0.0
    assert by_name["int8 file"]["value"] == tiny_bundles["int8"].stat().st_size / 1e6
    for report in doc["reports"].values():  # every model ran on the crop tree given by --data
        for row in report["sets"]:
            assert row["n"] == len(row["p_fake"]) > 0
            assert all(p.startswith(str(crops)) and p.endswith(".crop.png") for p in row["p_fake"])
            # the per-image scores give the report's own accuracy at its threshold
            fake = row["set"].split(" (")[0].endswith("_fake")
            right = [(v >= row["threshold"]) == fake for v in row["p_fake"].values()]
            assert row["accuracy"] == pytest.approx(sum(right) / len(right))
    # agreement recomputed from the two reports' per-image scores
    c8, cf = doc["reports"]["candidate_int8"], doc["reports"]["candidate_float"]
    for r8, rf in zip(c8["sets"], cf["sets"]):
        same = [
            (r8["p_fake"][p] >= r8["threshold"]) == (rf["p_fake"][p] >= rf["threshold"])
            for p in r8["p_fake"]
        ]
        check = by_name[r8["set"].split(" (")[0] + " int8-vs-float agreement"]
        assert check["value"] == pytest.approx(sum(same) / len(same))
