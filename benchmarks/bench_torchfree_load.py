"""How long a fresh process takes to a first CAM explanation when PyTorch is not imported (run by hand; not a test).

    python benchmarks/bench_torchfree_load.py [--model NAME] [--runs 3]

The measurement behind the next step for a cold server (``app_ui/warmup.py``): today the default network's load
imports PyTorch (2.0–2.4 s of a 2.6 s load on the 2-core CPU), although CAM runs on onnxruntime once the
exported graph has passed its check against PyTorch (``cam_core/interop/onnx_engine.py``). Each run starts a
fresh interpreter that does what a load without PyTorch would do, from the files the engine already keeps:

1. reads the model card from the safetensors header and the domain reference's vectors with safetensors' numpy
   reader;
2. opens the engine's prepared graph and its spec from the ONNX cache (``<stem>.cam1.onnx`` / ``.npz``; the
   graph must have been exported and checked before: explain any image with the model once);
3. explains a 1024×1024 image: resize and normalise with PIL and numpy, one onnxruntime run, then
   ``CAM_c = Σ_k W[c,k]·A_k`` and the CAM identity ``mean(CAM_c) + b_c = z_c``.

It prints the time of each step, whether ``torch`` got imported, and the same load through the product
(``open_model`` + ``make_explainer`` + one explanation) in another fresh process for comparison.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TORCH_FREE = r'''
import sys, time
T = time.perf_counter; t0 = T()
sys.path.insert(0, {root!r})
import json
import numpy as np
import onnxruntime as ort
from PIL import Image
from safetensors import safe_open
from cam_core.checkpoints.header import read_model_card
t1 = T()
card = read_model_card({model!r})
with safe_open({model!r}, framework="numpy") as f:
    domain = {{k: f.get_tensor(k) for k in f.keys() if k.startswith("domain.")}}
arrays = np.load({spec!r})
spec = json.loads(str(arrays["spec"]))
weight, bias = arrays["weight"].astype(np.float32), arrays["bias"].astype(np.float32)
options = ort.SessionOptions()
options.log_severity_level = 3
session = ort.InferenceSession(open({graph!r}, "rb").read(), sess_options=options,
                               providers=["CPUExecutionProvider"])
t2 = T()
image = Image.fromarray((np.random.default_rng(0).random((1024, 1024, 3)) * 255).astype(np.uint8))
height, width = card.input_size
x = np.asarray(image.resize((width, height), Image.Resampling.BILINEAR), dtype=np.float32) / 255.0
x = ((x - np.asarray(card.mean, np.float32)) / np.asarray(card.std, np.float32)).transpose(2, 0, 1)[None].copy()
logits, features = session.run([spec["logits"], spec["features"]], {{spec["input_name"]: x}})
maps = np.einsum("ck,nkhw->nchw", weight, features)
gap = float(np.abs(maps.mean((2, 3)) + bias - logits.reshape(len(logits), -1)).max())
t3 = T()
print(f"without PyTorch: imports {{t1 - t0:.2f}} s, open {{t2 - t1:.2f}} s, first explanation {{t3 - t2:.2f}} s, "
      f"total {{t3 - t0:.2f}} s (maps {{tuple(maps.shape[-2:])}}, identity gap {{gap:.1e}}, "
      f"{{len(domain)}} domain tensors, torch imported: {{'torch' in sys.modules}})")
'''

PRODUCT = r'''
import sys, time
T = time.perf_counter; t0 = T()
sys.path.insert(0, {root!r})
import numpy as np
from PIL import Image
from cam_core.explain.factory import make_explainer
from cam_core.models import open_model
t1 = T()
explainer = make_explainer(open_model({model!r}), "cam")
t2 = T()
image = Image.fromarray((np.random.default_rng(0).random((1024, 1024, 3)) * 255).astype(np.uint8))
explainer.explain_one(image)
t3 = T()
print(f"the product today: imports {{t1 - t0:.2f}} s, open {{t2 - t1:.2f}} s, first explanation {{t3 - t2:.2f}} s, "
      f"total {{t3 - t0:.2f}} s (engine: {{explainer.backend.label}})")
'''


def engine_files(model: Path) -> tuple[Path, Path]:
    """The prepared graph and spec the engine keeps for ``model`` (exported and checked once, if needed)."""
    from cam_core.checkpoints import load_checkpoint
    from cam_core.interop.onnx_cache import engine_files as files_of
    from cam_core.interop.onnx_engine import engine_extractor

    bundle = load_checkpoint(model, device="cpu")
    engine_extractor(bundle)
    files = files_of(bundle)
    return files.graph, files.spec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="efficientnet_lite0-parts")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from cam_core.checkpoints.registry import resolve_model_path

    model = Path(resolve_model_path(args.model))
    graph, spec = engine_files(model)
    fields = {"root": str(ROOT), "model": str(model), "graph": str(graph), "spec": str(spec)}
    for _ in range(args.runs):
        for script in (TORCH_FREE, PRODUCT):
            run = subprocess.run([sys.executable, "-c", script.format(**fields)], capture_output=True, text=True,
                                 cwd=ROOT, check=False)
            print(run.stdout.strip() or run.stderr.strip()[-2000:], flush=True)


if __name__ == "__main__":
    main()
