"""workbench/evaluation.py's metrics against hand-computed values (numpy only, no TensorFlow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from workbench.evaluation import (
    best_threshold,
    binary_metrics,
    confusion_matrix,
    markdown_table,
    predict_labels,
    roc_auc,
)

REPO = Path(__file__).resolve().parent.parent

# Labels: fake = 0, real = 1. Scores are P(fake); predicted fake when P(fake) >= 0.5.
Y = [1, 1, 1, 0, 0, 0, 1, 0]
P_FAKE = [0.1, 0.4, 0.6, 0.7, 0.2, 0.9, 0.3, 0.5]
# Predictions:  1    1    0    0    1    0    1    0
# real (positive): TP = 3 (0, 1, 6), FN = 1 (2); fake: TN = 3 (3, 5, 7), FP = 1 (4).
# AUC on P(real) = 1 - P(fake): real 0.9 0.6 0.4 0.7 vs fake 0.3 0.8 0.1 0.5 -> 4+3+2+3 = 12 / 16.


def test_hand_computed_example():
    m = binary_metrics(Y, P_FAKE)
    assert m.confusion_matrix == [[3, 1], [1, 3]]
    assert (m.n, m.n_real, m.n_fake) == (8, 4, 4)
    assert m.accuracy == pytest.approx(0.75)
    assert m.precision == pytest.approx(0.75)
    assert m.recall == pytest.approx(0.75)
    assert m.f1 == pytest.approx(0.75)
    assert m.specificity == pytest.approx(0.75)
    assert m.roc_auc == pytest.approx(0.75)
    assert "positive class = real" in m.convention


def test_threshold_rule_matches_detector():
    # edge_runtime's Detector: fake when fake_probability >= threshold (ties are fake).
    assert predict_labels(np.array([0.5, 0.49999, 0.8]), 0.5).tolist() == [0, 1, 0]
    m = binary_metrics(Y, P_FAKE, threshold=0.65)
    # idx 2 (0.6, real) and 7 (0.5, fake) now predicted real: TP 4, FN 0, TN 2, FP 2.
    assert m.confusion_matrix == [[2, 2], [0, 4]]
    assert m.precision == pytest.approx(4 / 6)
    assert m.recall == pytest.approx(1.0)
    assert m.f1 == pytest.approx(2 * (4 / 6) / (4 / 6 + 1))
    assert m.roc_auc == pytest.approx(0.75)  # AUC does not depend on the threshold


def test_precision_and_f1_of_all_real_predictions():
    # The report's out-of-distribution figures have this shape: almost everything called real.
    y = [1] * 6 + [0] * 4
    m = binary_metrics(y, [0.1] * 10)
    assert m.precision == pytest.approx(0.6)
    assert m.recall == pytest.approx(1.0)
    assert m.f1 == pytest.approx(0.75)
    assert m.specificity == pytest.approx(0.0)
    assert m.roc_auc == pytest.approx(0.5)  # all scores tied


def test_auc_ties_and_ordering():
    assert roc_auc([1, 0], [0.3, 0.3]) == pytest.approx(0.5)
    assert roc_auc([1, 1, 0, 0], [0.9, 0.8, 0.2, 0.1]) == pytest.approx(1.0)
    assert roc_auc([1, 1, 0, 0], [0.1, 0.2, 0.8, 0.9]) == pytest.approx(0.0)
    # one tie across classes: 3 wins + 0.5 -> 3.5 / 4
    assert roc_auc([1, 1, 0, 0], [0.9, 0.5, 0.5, 0.1]) == pytest.approx(0.875)


def test_single_class_set_reports_what_is_computable():
    # sd21_faces has only fake/: accuracy = recall of fake, AUC and recall of real undefined.
    m = binary_metrics([0, 0, 0, 0], [0.9, 0.8, 0.2, 0.6])
    assert m.accuracy == pytest.approx(0.75)
    assert m.specificity == pytest.approx(0.75)
    assert m.roc_auc is None
    assert m.recall is None and m.f1 is None
    assert m.precision == pytest.approx(0.0)  # one fake called real, no real called real
    table = markdown_table([("sd21_faces", m)])
    assert "| sd21_faces | 0 | 4 | 0.7500 |" in table
    assert table.count("n/a") == 3  # recall, F1, AUC


def test_confusion_matrix_order():
    assert confusion_matrix([0, 0, 1], [0, 1, 1]) == [[1, 1], [0, 1]]


def test_best_threshold_picks_validation_optimum():
    t, acc = best_threshold([0, 0, 1, 1], [0.9, 0.3, 0.2, 0.1])
    assert acc == pytest.approx(1.0)
    assert 0.2 < t <= 0.3  # midpoint 0.25 separates 0.3 (fake) from 0.2 (real)
    m = binary_metrics([0, 0, 1, 1], [0.9, 0.3, 0.2, 0.1], t)
    assert m.accuracy == pytest.approx(1.0)


def test_best_threshold_prefers_half_on_ties():
    t, acc = best_threshold([0, 1], [0.5, 0.5])
    assert (t, acc) == (0.5, 0.5)


def test_bad_inputs():
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.5])
    with pytest.raises(ValueError):
        binary_metrics([0, 2], [0.5, 0.5])
    with pytest.raises(ValueError):
        binary_metrics([0, 1], [0.5, float("nan")])


def test_metrics_import_without_tensorflow():
    code = (
        "import sys; import workbench.evaluation, train.data, train.config, train.augment; "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)
