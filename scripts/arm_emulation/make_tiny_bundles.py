"""Write the four variants of the tiny test classifier (tests/tiny_models.py) as bundles.

For running the emulation check before the trained models exist. Needs TensorFlow (host only).

    python scripts/arm_emulation/make_tiny_bundles.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    from convert.tflite_export import keras_to_tflite
    from edge_runtime.bundle import save_bundle
    from edge_runtime.types import VARIANTS, BundleInfo, PreprocessSpec
    from tests.tiny_models import build_tiny_classifier, random_representative

    out = Path(sys.argv[1])
    model = build_tiny_classifier(size=32)
    for variant in VARIANTS:
        content = keras_to_tflite(model, variant, random_representative(32))
        info = BundleInfo(
            variant=variant,
            preprocess=PreprocessSpec(height=32, width=32),
            training_run="tests/tiny_models.py",
        )
        print(save_bundle(content, info, out / f"tiny_{variant}.tflite").path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
