"""Which layers the domain check reads: the ends of the stride-8 and stride-16 stages of known networks.

Measured on the shipped EfficientNet-Lite0 (``benchmarks/domain_check.py``): the per-channel means and standard
deviations of these stages separate its synthetic parts from real tiles and plates at AUROC 1.000; the CAM layer's
pooled features alone reach 0.98 (tiles) and 0.73 (plates). A network not listed here falls back to the CAM layer.
"""

from __future__ import annotations

from torch import nn

__all__ = ["DOMAIN_STAGES", "domain_stages"]

#: class name of the network → modules whose outputs the domain features are pooled from (stride 8, stride 16)
DOMAIN_STAGES: dict[str, tuple[str, ...]] = {
    "EfficientNetLite": ("features.5", "features.11"),
    "ResNet": ("layer2", "layer3"),
    "GoogLeNet": ("inception3b", "inception4e"),
}


def domain_stages(model: nn.Module) -> tuple[str, ...]:
    """The domain-check layers of ``model`` (empty when its family is not known or a layer is missing)."""
    stages = DOMAIN_STAGES.get(type(model).__name__, ())
    names = {name for name, _ in model.named_modules()}
    return stages if all(s in names for s in stages) else ()
