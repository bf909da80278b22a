"""Copy the four variants of the tiny test classifier (tests/fixtures/tiny, made by
tests/tiny_models.py) with their sidecars into OUT_DIR. No TensorFlow needed.

    python scripts/arm_emulation/make_tiny_bundles.py OUT_DIR
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    from edge_runtime.bundle import sidecar_path
    from edge_runtime.types import VARIANTS
    from tests.tiny_models import fixture_paths

    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for variant in VARIANTS:
        src = fixture_paths()[variant]
        shutil.copy(sidecar_path(src), sidecar_path(out / src.name))
        print(shutil.copy(src, out / src.name))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
