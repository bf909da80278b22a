"""The committed tiny fixture models (tests/fixtures/tiny) are what tests/tiny_models.py makes.

CI has the train extra, so this rebuilds them with TensorFlow and compares what the tests rely
on (sidecars, tensors, ops, outputs on fixed inputs); TF conversion need not be byte-identical.
A runtime-only install (a Pi) skips this one test and uses the committed files.
"""

from __future__ import annotations

import json

from edge_runtime.bundle import load_bundle, sidecar_path
from tests.conftest import requires_tensorflow
from tests.tiny_models import compare_fixtures, fixture_paths, write_fixtures


@requires_tensorflow
def test_committed_fixtures_are_current(tmp_path):
    write_fixtures(tmp_path)
    assert compare_fixtures(rebuilt=tmp_path) == []


def test_committed_fixtures_are_whole():
    for name, path in fixture_paths().items():
        bundle = load_bundle(path)  # checks the sidecar's sha256 against the .tflite
        meta = json.loads(sidecar_path(path).read_text())
        assert meta["training_run"] == "tests/tiny_models.py", name
        assert bundle.info.preprocess.height == 32
