"""`python -m train mix-layout`: the mix's splits as symbolic links (for convert's calibration)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SHARED_DATA, requires_shared_data
from train.errors import ConfigError
from train.mix_layout import write_mix_layout
from train.sources import build_mix, load_sources

pytestmark = requires_shared_data


def test_layout_links_exactly_the_mix(tmp_path):
    out = tmp_path / "mix"
    counts = write_mix_layout(out, hold_out=("sd21",))
    mix = build_mix(load_sources(), None, ("sd21",))
    for split, files in mix.splits.items():
        expected = files.counts()
        assert counts[split] == {"fake": expected["fake"], "real": expected["real"]}
        linked = sorted(p.resolve() for p in (out / split).glob("*/*"))
        assert linked == sorted(Path(s.path).resolve() for s in files.samples)
    names = [p.name for p in (out / "train").glob("*/*")]
    assert not any(n.startswith(("sd21_fake__", "ciplab", "lfw_faceswap_fake")) for n in names)
    assert any(n.startswith("lfw_real__") for n in names)  # trainable since issue 18
    assert all(SHARED_DATA.resolve() in p.resolve().parents for p in (out / "valid").glob("*/*"))
    with pytest.raises(ConfigError, match="not an empty folder"):
        write_mix_layout(out)
