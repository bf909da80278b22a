"""Write the four variants of the tiny test classifier (tests/tiny_models.py) as bundles.

For running the emulation check before the trained models exist. Needs TensorFlow (host only).

    python scripts/arm_emulation/make_tiny_bundles.py OUT_DIR
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    from tests.tiny_models import write_tiny_bundles

    for path in write_tiny_bundles(Path(sys.argv[1])).values():
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
