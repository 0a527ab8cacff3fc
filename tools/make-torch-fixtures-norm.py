#!/usr/bin/env python3
"""Writes test/fixtures/torch-norm.json: what PyTorch computes for nodegrad's BatchNorm1d and
BatchNorm2d, so the tests can check nodegrad against PyTorch without Python. Run with Debian's
python3-torch:

    apt-get install python3-torch && /usr/bin/python3 tools/make-torch-fixtures-norm.py

Each case starts from a random state dict (weight, bias and running statistics, PyTorch's
names) and records three training-mode steps, each with its input, output, a random upstream
gradient, the gradients of the input and of the parameters, and the buffers after the step
(running_mean, running_var, num_batches_tracked); then one evaluation-mode step with its
gradients. Inputs and weights are float32 values; PyTorch computes in float64 from them, so the
fixture holds the exact answer (to the digits stored) that nodegrad's float32 result is measured
against.

The state dicts go both ways:
- test/fixtures/torch-norm-state.safetensors holds each case's PyTorch state dict after its
  training steps, written as PyTorch's own tensors are (num_batches_tracked as I64), under the
  keys "<case index>.<name>"; the tests load it into nodegrad's modules.
- when test/fixtures/nodegrad-norm-state.safetensors exists (written by
  tools/write-norm-state.js: nodegrad's state after the same training steps), each case's state
  is loaded strictly into the PyTorch module, and what PyTorch computes with it in evaluation
  mode on the case's evaluation input is recorded as the case's "fromNodegrad".

    npm run build:ts && node tools/write-norm-state.js && /usr/bin/python3 tools/make-torch-fixtures-norm.py
"""
import json
import os
import struct

import torch

torch.manual_seed(20261204)
nn = torch.nn
FIXTURES = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures")


def values(t):
    return [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t):
    return {"shape": list(t.shape), "data": values(t)}


def buffers_json(module):
    out = {k: tensor_json(v) for k, v in module.named_buffers() if k != "num_batches_tracked"}
    if module.num_batches_tracked is not None:
        out["num_batches_tracked"] = int(module.num_batches_tracked)
    return out


def make_module(config):
    kind = nn.BatchNorm1d if config["kind"] == "BatchNorm1d" else nn.BatchNorm2d
    return kind(config["numFeatures"], eps=config["eps"], momentum=config["momentum"],
                affine=config["affine"], track_running_stats=config["trackRunningStats"])


def randomize(module):
    """Non-default weights and running statistics, so every name matters."""
    with torch.no_grad():
        if module.affine:
            module.weight.copy_(torch.rand_like(module.weight) + 0.5)
            module.bias.copy_(torch.randn_like(module.bias) * 0.5)
        if module.track_running_stats:
            module.running_mean.copy_(torch.randn_like(module.running_mean) * 0.5)
            module.running_var.copy_(torch.rand_like(module.running_var) + 0.5)
            module.num_batches_tracked.fill_(3)
    return module


def step(module, x):
    """One forward in the module's mode and a backward from a random upstream gradient."""
    module.zero_grad()
    leaf = x.double().requires_grad_(True)
    out = module(leaf)
    upstream = torch.randn_like(x)
    out.backward(upstream.double())
    entry = {
        "input": tensor_json(x),
        "output": tensor_json(out),
        "upstream": tensor_json(upstream),
        "inputGrad": tensor_json(leaf.grad),
        "paramGrads": {k: tensor_json(p.grad) for k, p in module.named_parameters()},
    }
    if module.training:
        entry["buffers"] = buffers_json(module)
    return entry


def case(name, config, shape, scale=1.0, offset=0.0):
    module = randomize(make_module(config))
    state = {k: tensor_json(v) for k, v in module.state_dict().items() if v.is_floating_point()}
    if module.num_batches_tracked is not None:
        state["num_batches_tracked"] = int(module.num_batches_tracked)
    module.double()
    draw = lambda: torch.randn(*shape) * scale + offset
    steps = [step(module.train(), draw()) for _ in range(3)]
    final = {k: v.float() if v.is_floating_point() else v for k, v in module.state_dict().items()}
    evaluation = step(module.eval(), draw())
    print(f"{name}: {len(steps)} training steps, then evaluation")
    return {"name": name, "config": config, "state": state, "train": steps, "eval": evaluation,
            "_final": final}


def config(kind, c, eps=1e-5, momentum=0.1, affine=True, track=True):
    return {"kind": kind, "numFeatures": c, "eps": eps, "momentum": momentum, "affine": affine,
            "trackRunningStats": track}


def cases():
    return [
        case("BatchNorm1d(4) on [6, 4]", config("BatchNorm1d", 4), [6, 4]),
        case("BatchNorm1d(3) on [5, 3, 7], momentum null", config("BatchNorm1d", 3, momentum=None),
             [5, 3, 7]),
        case("BatchNorm1d(5) on [4, 5], offset inputs", config("BatchNorm1d", 5), [4, 5],
             scale=3.0, offset=10.0),
        case("BatchNorm1d(4) without running statistics", config("BatchNorm1d", 4, track=False),
             [8, 4]),
        case("BatchNorm2d(3) on [4, 3, 5, 6]", config("BatchNorm2d", 3), [4, 3, 5, 6]),
        case("BatchNorm2d(5) without affine, momentum 0.3",
             config("BatchNorm2d", 5, momentum=0.3, affine=False), [2, 5, 3, 4]),
        case("BatchNorm2d(2), momentum null, eps 1e-3",
             config("BatchNorm2d", 2, eps=1e-3, momentum=None), [3, 2, 4, 4], scale=2.0,
             offset=-1.0),
        case("BatchNorm2d(3) on [1, 3, 2, 3]", config("BatchNorm2d", 3), [1, 3, 2, 3]),
    ]


# ---------------------------------------------------------------------------------------------
# safetensors by hand (Debian's torch comes without the safetensors package).

DTYPES = {"F32": torch.float32, "F64": torch.float64, "I64": torch.int64}
NAMES = {v: k for k, v in DTYPES.items()}


def write_safetensors(path, tensors):
    header, offset, chunks = {}, 0, []
    for name, t in tensors.items():
        raw = t.contiguous().numpy().tobytes()
        header[name] = {"dtype": NAMES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(raw)]}
        offset += len(raw)
        chunks.append(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(chunks))


def read_safetensors(path):
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    base = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        start, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(data[base + start : base + end]),
                                dtype=DTYPES[entry["dtype"]])
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def from_nodegrad(all_cases, path):
    """Loads case i's nodegrad state strictly into its PyTorch module, in evaluation mode."""
    saved = read_safetensors(path)
    for i, c in enumerate(all_cases):
        prefix = f"{i}."
        state = {k[len(prefix):]: v for k, v in saved.items() if k.startswith(prefix)}
        module = make_module(c["config"])
        module.load_state_dict(state, strict=True)
        if module.num_batches_tracked is not None:
            assert int(module.num_batches_tracked) == c["train"][-1]["buffers"]["num_batches_tracked"]
        module.eval()
        with torch.no_grad():
            x = torch.tensor(c["eval"]["input"]["data"]).reshape(c["eval"]["input"]["shape"])
            c["fromNodegrad"] = tensor_json(module(x))


def main():
    all_cases = cases()
    torch_state = {f"{i}.{k}": v for i, c in enumerate(all_cases) for k, v in c["_final"].items()}
    write_safetensors(os.path.join(FIXTURES, "torch-norm-state.safetensors"), torch_state)
    for c in all_cases:
        del c["_final"]
    nodegrad_state = os.path.join(FIXTURES, "nodegrad-norm-state.safetensors")
    if os.path.exists(nodegrad_state):
        from_nodegrad(all_cases, nodegrad_state)
    path = os.path.join(FIXTURES, "torch-norm.json")
    with open(path, "w") as f:
        json.dump({"torch": torch.__version__, "batchNorm": all_cases}, f, separators=(",", ":"))
        f.write("\n")
    loaded = sum("fromNodegrad" in c for c in all_cases)
    print(f"wrote {os.path.normpath(path)}: {len(all_cases)} cases, {loaded} nodegrad state "
          f"dicts loaded into PyTorch, torch {torch.__version__}")


if __name__ == "__main__":
    main()
