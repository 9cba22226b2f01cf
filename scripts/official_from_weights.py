"""Run the official-code driver (train_official.py) with the model's initial weights replaced by
those of a trm-tui checkpoint, for the controlled runs of docs/fidelity.md.

    python scripts/official_from_weights.py --init CHECKPOINT.safetensors --driver train_official.py \
        -- train --ref-src REF ... (the driver's own arguments)

The checkpoint's plain tensors (official names: `lm_head.weight`, `H_init`, `puzzle_emb.weights`,
...) are copied into `TinyRecursiveReasoningModel_ACTV1.inner` right after the official
constructor has run, so every optimizer, the EMA and the sampler start exactly as the driver
would start them, only from these weights. `--perturb EPS` then scales every weight by 1 +- EPS (a fixed random sign per element): two runs
that differ only by a rounding-sized change show how fast the official code's own trajectories
part, the yardstick for how fast trm-tui's and the official one part. A name that the official
model lacks, or one of its
tensors that the file lacks, or a shape mismatch, is an error naming it.
"""
import argparse
import importlib.util
import json
import os
import struct
import sys

DTYPES = {"F32": "float32", "F64": "float64", "I64": "int64", "I32": "int32", "U32": "uint32",
          "U8": "uint8", "BF16": None, "F16": "float16"}


def read_safetensors(path):
    """name -> numpy array, for the plain tensors (no `ema.`, `optim.`, `carry.` prefix)."""
    import numpy as np
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        sys.exit(f"{path}: too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    try:
        header = json.loads(raw[8:8 + n])
    except json.JSONDecodeError as e:
        sys.exit(f"{path}: bad safetensors header: {e}")
    body = raw[8 + n:]
    out = {}
    for name, info in header.items():
        if name == "__metadata__" or name.startswith(("ema.", "optim.", "carry.")):
            continue
        dt = DTYPES.get(info["dtype"])
        if dt is None:
            sys.exit(f"{path}: tensor {name} has dtype {info['dtype']}, expected float32")
        a, b = info["data_offsets"]
        out[name] = np.frombuffer(body[a:b], dtype=dt).reshape(info["shape"]).copy()
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--init", required=True, help="trm-tui checkpoint or weights file")
    ap.add_argument("--driver", required=True, help="the official-code driver (train_official.py)")
    ap.add_argument("--perturb", type=float, default=0.0,
                    help="multiply every weight by (1 + PERTURB * s), s = +-1 at random (a fixed draw): "
                         "a rounding-sized change, to measure how fast the official code itself diverges")
    ap.add_argument("rest", nargs=argparse.REMAINDER, help="-- then the driver's arguments")
    args = ap.parse_args()
    rest = args.rest[1:] if args.rest[:1] == ["--"] else args.rest
    if "--ref-src" not in rest:
        sys.exit("pass the driver's --ref-src after --")
    ref_src = rest[rest.index("--ref-src") + 1]
    weights = read_safetensors(args.init)

    import torch
    sys.path.insert(0, ref_src)
    spec = importlib.util.spec_from_file_location("train_official", args.driver)
    driver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(driver)
    driver._ensure_module("argdantic", driver._argdantic_stub)
    import models.recursive_reasoning.trm as trm

    cls = trm.TinyRecursiveReasoningModel_ACTV1
    official_init = cls.__init__

    def init_from_file(self, *a, **k):
        official_init(self, *a, **k)
        state = self.inner.state_dict()
        missing = sorted(set(state) - set(weights))
        extra = sorted(set(weights) - set(state))
        if missing or extra:
            sys.exit(f"{args.init}: tensors do not match the official model: missing {missing}, unexpected {extra}")
        with torch.no_grad():
            for name, t in state.items():
                w = torch.from_numpy(weights[name])
                if tuple(w.shape) != tuple(t.shape):
                    sys.exit(f"{args.init}: {name} has shape {tuple(w.shape)}, the official model {tuple(t.shape)}")
                t.copy_(w.to(t.dtype))
                if args.perturb:
                    g = torch.Generator().manual_seed(12345)
                    sign = torch.randint(0, 2, t.shape, generator=g).to(t.dtype) * 2 - 1
                    t.mul_(1 + args.perturb * sign)
        print(f"[init] {len(state)} tensors from {args.init}", file=sys.stderr)

    cls.__init__ = init_from_file
    driver.main(rest)


if __name__ == "__main__":
    main()
