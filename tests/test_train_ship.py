"""Issue 10's ship rule (train/ship.py) on made-up per-source reports; no TF, no data."""

from __future__ import annotations

import pytest

from train.errors import ConfigError
from train.ship import INT8_SIZE_LIMIT, comparison_rows, decide, markdown
from train.sources import load_sources

SOURCES = load_sources()
N = 200


def _report(rates: dict[str, float] | None = None, default: float = 0.9) -> dict:
    """An `evaluate --sources --json`-shaped report: each source's share called correctly."""
    rates = rates or {}
    return {
        "sets": [
            {"set": f"{s.name} ({s.family})", "n": N, "accuracy": rates.get(s.name, default)}
            for s in SOURCES.sources
        ]
    }


def _ok(checks) -> list[bool]:
    return [c.ok for c in checks]


def test_a_candidate_better_everywhere_ships():
    current = _report(default=0.8)
    candidate = _report(default=0.9)
    checks = decide(current, candidate, candidate, INT8_SIZE_LIMIT)
    assert _ok(checks) == [True, True, True, True]
    text = markdown(checks, comparison_rows(current, candidate, candidate))
    assert "verdict: ship the candidate" in text


def test_each_check_fails_on_its_own():
    current = _report(default=0.8)
    candidate = _report(default=0.9)
    # 1: worse on the 140k test split (both classes pooled)
    worse_140k = _report({"faces140k_real": 0.7, "faces140k_fake": 0.8}, default=0.9)
    assert _ok(decide(current, worse_140k, worse_140k, INT8_SIZE_LIMIT))[0] is False
    # 2: one other trainable source worse, although the mean is better
    one_worse = _report({"utkface200_real": 0.75}, default=0.9)
    checks = decide(current, one_worse, one_worse, INT8_SIZE_LIMIT)
    assert _ok(checks) == [True, False, True, True] and "utkface200_real" in checks[1].detail
    # evaluation-only sets are reported, never gated
    ood_worse = _report({"ciplab_fake": 0.1, "lfw_real": 0.1}, default=0.9)
    assert all(_ok(decide(current, ood_worse, ood_worse, INT8_SIZE_LIMIT)))
    # 3: one byte over the size limit
    assert _ok(decide(current, candidate, candidate, INT8_SIZE_LIMIT + 1))[2] is False
    # 4: one image in 200 (0.5 pp) is allowed, two are not; on any source, evaluation-only too
    one_image = _report({"lfw_real": 0.9 - 1 / N}, default=0.9)
    assert _ok(decide(current, one_image, candidate, INT8_SIZE_LIMIT))[3] is True
    two_images = _report({"lfw_real": 0.9 - 2 / N}, default=0.9)
    checks = decide(current, two_images, candidate, INT8_SIZE_LIMIT)
    assert _ok(checks)[3] is False and "lfw_real -1.00 pp" in checks[3].detail


def test_a_report_without_source_rows_is_refused():
    with pytest.raises(ConfigError, match="--sources"):
        decide({"sets": []}, {"sets": []}, {"sets": []}, 1)


def test_every_bundled_model_name_is_a_model_for_the_train_commands():
    # evaluate / stability / ship-check take the names -m takes (v1-int8, v2-int8, ...)
    from edge_runtime.types import model_names
    from train.evaluate import RuntimeScorer, make_scorer

    for name in model_names():
        assert isinstance(make_scorer(name, num_threads=1), RuntimeScorer), name
