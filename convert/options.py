"""Every option of a conversion, with its one default: the CLI (`python -m convert`), the
pipeline and the QAT child process all take their values from these dataclasses."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from edge_runtime.registry import FILE_STEM
from edge_runtime.types import VARIANTS

QAT_MODES = ("auto", "on", "off")
# Label agreement with Keras below which a variant must not ship (convert/verify.py).
MIN_AGREEMENT = 0.95


@dataclass(frozen=True)
class QatOptions:
    """Quantization-aware training of the int8 variant (convert/qat.py, in its own process)."""

    mode: str = "auto"  # auto: when PTQ int8 loses more than threshold_pp against float
    threshold_pp: float = 0.5  # accuracy loss (percentage points) that triggers QAT in auto mode
    epochs: int = 2
    learning_rate: float = 1e-5
    batch_size: int = 16
    train_limit: int = 0  # 0: every training image
    freeze_batchnorm: bool = True  # BatchNormalization in inference mode while fine-tuning
    timeout_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> QatOptions:
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class ConvertOptions:
    source: str
    out: Path
    variants: tuple[str, ...] = VARIANTS
    calibration_images: int = 300  # int8 representative images (stratified by class, seeded)
    calibration_dir: Path | None = None  # None: the run's data dir, else the shared sample
    valid_dir: Path | None = None  # None: the calibration root's valid/ split
    valid_limit: int | None = None  # None: every validation image
    seed: int = 0
    legacy_fully_connected: bool = False
    qat: QatOptions = field(default_factory=QatOptions)
    min_agreement: float = MIN_AGREEMENT
    threads: int = 1
    stem: str = FILE_STEM


__all__ = ["MIN_AGREEMENT", "QAT_MODES", "ConvertOptions", "QatOptions"]
