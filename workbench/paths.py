"""Every path into the checkout and the shared data beside it (one definition each).

The workbench runs from a checkout only; the installed runtime (edge_runtime) knows none of
these paths.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# ../shared/data beside the checkout; EDGE_DETECT_SHARED_DATA overrides it.
SHARED_DATA_ENV = "EDGE_DETECT_SHARED_DATA"
SOURCES_FILE = REPO_ROOT / "train" / "sources.json"  # the list of labelled sources
CHECKOUT_MODELS = REPO_ROOT / "models"  # the variants not in edge_runtime/models
# Published peers' bundles (MesoNet), one folder each; not in the wheel (pyproject's
# package-data globs take only models/'s own files).
PEER_MODELS = CHECKOUT_MODELS / "peers"
SHARED_WEIGHTS = REPO_ROOT.parent / "shared" / "weights"


def shared_data_dir() -> Path:
    env = os.environ.get(SHARED_DATA_ENV)
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"
