"""Optimiser, learning rates and run length.

AdamW (weight decay 1e-4) with per-architecture default rates (:data:`DEFAULT_LR`); the classifier
head's bias trains at 100× that rate, its weights at 10× (100× for SqueezeNet) (:func:`param_groups`);
every rate is warmed up linearly over ``min(1 epoch, max(1, ⌈5 % of all steps⌉))`` steps, then
cosine-decayed to 0 (:func:`lr_factor`); gradients are clipped to norm 2.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from cam_core.engine.architectures import resolve_head
from cam_core.engine.hooks import resolve_module

__all__ = [
    "AUTO_EPOCHS_RANGE", "AUTO_EPOCHS_RANGE_PRETRAINED", "AUTO_STEPS", "AUTO_STEPS_PRETRAINED", "DEFAULT_LR",
    "GRAD_CLIP_NORM", "HEAD_BIAS_LR_MULT", "HEAD_LR_MULT", "HEAD_LR_MULT_BY_ARCH", "WARMUP_FRACTION",
    "auto_epochs", "default_lr", "head_lr_mult", "lr_factor", "make_optimizer", "param_groups", "warmup_steps",
]

GRAD_CLIP_NORM = 2.0
HEAD_LR_MULT = 10.0
# SqueezeNet's head (a 1×1 conv on sparse, un-normalised ReLU features) needs 100× to grow in time; on the
# BatchNorm'd 1024-feature GoogLeNet 100× made every logit jump by tens per step (train loss 11 after an epoch).
HEAD_LR_MULT_BY_ARCH = {"squeezenet1_0": 100.0, "squeezenet1_1": 100.0}
HEAD_BIAS_LR_MULT = 100.0
WARMUP_FRACTION = 0.05
# Default length of a run, in optimiser steps: every from-scratch run measured here was still improving
# at ~1000 steps (docs/localization.md: magnetic tiles went from AUROC 0.70 at 320 steps to 0.85 at 960).
AUTO_STEPS = 1500
AUTO_EPOCHS_RANGE = (10, 100)
# From ImageNet weights far fewer steps suffice (docs/transfer.md: Lite0 on synthetic parts and magnetic tiles).
AUTO_STEPS_PRETRAINED = 600
AUTO_EPOCHS_RANGE_PRETRAINED = (4, 40)

# (fine-tuning ImageNet weights, from scratch); the head trains faster (HEAD_LR_MULT, HEAD_BIAS_LR_MULT).
# SqueezeNet from scratch at 5e-4 with a zero head, warm-up, clipping and no head ReLU learns an easy
# task (bright blob on noise) in 40 steps on every seed tried. On subtle defects (synthetic parts, magnetic
# tiles) from scratch the classification signal through the global average pool is weak: without masks
# short CPU runs stayed at chance; with the pointing loss (masks) they learn (see README, "Shipped models").
DEFAULT_LR: dict[str, tuple[float, float]] = {
    "squeezenet1_0": (3e-4, 5e-4),
    "squeezenet1_1": (3e-4, 5e-4),
    "googlenet": (3e-4, 1e-3),
    "resnet18": (3e-4, 1e-3),
    "resnet34": (3e-4, 1e-3),
    "resnet50": (2e-4, 1e-3),
    "mobilenet_v2": (5e-4, 1e-3),
    "efficientnet_b0": (5e-4, 1e-3),
    "densenet121": (2e-4, 1e-3),
    "efficientnet_lite0": (1e-3, 2e-3),
}


def default_lr(arch: str, pretrained: bool) -> float:
    """Default AdamW learning rate for ``arch`` (fine-tuning ImageNet weights or from scratch)."""
    tuned, scratch = DEFAULT_LR.get(arch, (3e-4, 1e-3))
    return tuned if pretrained else scratch


def auto_epochs(steps_per_epoch: int, pretrained: bool = False) -> int:
    """Default epochs: ``clamp(⌈S / steps_per_epoch⌉, lo, hi)``.

    From scratch ``S = 1500`` steps in 10–100 epochs; from ImageNet weights ``S = 600`` in 4–40 epochs.
    """
    target, (low, high) = ((AUTO_STEPS_PRETRAINED, AUTO_EPOCHS_RANGE_PRETRAINED) if pretrained
                           else (AUTO_STEPS, AUTO_EPOCHS_RANGE))
    return int(min(high, max(low, math.ceil(target / max(1, steps_per_epoch)))))


def head_lr_mult(arch: str) -> float:
    """Learning-rate multiplier of the classifier head's weights for ``arch``."""
    return HEAD_LR_MULT_BY_ARCH.get(arch, HEAD_LR_MULT)


def param_groups(model: nn.Module, lr: float, weight_mult: float = HEAD_LR_MULT) -> list[dict[str, Any]]:
    """Backbone at ``lr``, head weights at ``weight_mult · lr``, head bias at ``HEAD_BIAS_LR_MULT · lr``.

    SqueezeNet's head weights need a large rate too (:data:`HEAD_LR_MULT_BY_ARCH`): through the global average pool a defect covering 2 of 169
    cells moves the logit by only 2/169 of its map value, so the head has to grow to ``|W| ≫ 1`` while
    Adam moves each weight by about its rate per step (at 10× the weights were still below 1 after
    250 steps on synthetic parts).

    Why: the new head starts near zero (SqueezeNet: N(0, 0.01)), and on an OK image the ReLU'd features
    feeding it are often all zero (no defect evidence anywhere), so the OK logit is the head bias alone.
    Adam moves a parameter by about its learning rate per step, so at the backbone's rate the bias needs
    hundreds of steps to cross the OK/NG threshold: validation AUROC reaches 1 while every image still
    gets the same verdict (seen on synthetic parts at 20–40 steps).
    """
    head = resolve_module(model, resolve_head(model).classifier)
    bias = getattr(head, "bias", None)
    special = {id(head.weight)} | ({id(bias)} if bias is not None else set())
    groups: list[dict[str, Any]] = [
        {"params": [p for p in model.parameters() if id(p) not in special and p.requires_grad], "lr": lr},
        {"params": [head.weight], "lr": lr * weight_mult},
    ]
    if bias is not None:
        groups.append({"params": [bias], "lr": lr * HEAD_BIAS_LR_MULT, "weight_decay": 0.0})
    return groups


def warmup_steps(steps_per_epoch: int, total_steps: int) -> int:
    """``min(1 epoch, max(1, ⌈5 % of all steps⌉))``."""
    return min(steps_per_epoch, max(1, math.ceil(WARMUP_FRACTION * total_steps)))


def lr_factor(step: int, warmup: int, total: int) -> float:
    """Linear warm-up ``(s+1)/warmup``, then cosine ``½(1 + cos(π·(s − warmup)/(total − warmup)))``."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def make_optimizer(model: nn.Module, arch: str, lr: float, weight_decay: float, warmup: int, total_steps: int
                   ) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW over :func:`param_groups` and its per-step :func:`lr_factor` schedule."""
    optimizer = torch.optim.AdamW(param_groups(model, lr, head_lr_mult(arch)), lr=lr, weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, warmup, total_steps))
    return optimizer, scheduler
