#!/usr/bin/env python3
"""Writes test/fixtures/torch-cnn.json: what PyTorch computes for nodegrad's convolution and
pooling layers, so the tests can check nodegrad against PyTorch without Python. Run with
Debian's python3-torch:

    apt-get install python3-torch && /usr/bin/python3 tools/make-torch-fixtures-cnn.py

For Conv1d, Conv2d, MaxPool2d, AvgPool2d, AdaptiveAvgPool2d, Flatten and a small CNN built of
them (several configurations each: stride, padding, dilation, groups, no bias, unbatched
input): the state dict (PyTorch's names and shapes), the input, the output, a random upstream
gradient, and the gradients of the input and of every parameter.

The other way round: when test/fixtures/nodegrad-cnn-state.safetensors exists (written by
tools/write-cnn-state.js from nodegrad's own initialisation of each case with parameters),
each state dict is loaded strictly into the PyTorch module of its case, and the output PyTorch
computes with it on the case's input is recorded as the case's "fromNodegrad".

The two passes, from a clean state: run this script, then `npm run build:ts && node
tools/write-cnn-state.js`, then this script again (it writes the same numbers as before, plus
"fromNodegrad").
"""
import json
import os
import struct

import torch

torch.manual_seed(20261204)
nn = torch.nn


def values(t):
    return [float("%.8g" % v) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t):
    return {"shape": list(t.shape), "data": values(t)}


def pair_or_int(v):
    return tuple(v) if isinstance(v, list) else v


def make_module(kind, args, options):
    """The PyTorch module of a case, from nodegrad's argument and option names."""
    o = options
    if kind in ("Conv1d", "Conv2d"):
        cls = nn.Conv1d if kind == "Conv1d" else nn.Conv2d
        return cls(args[0], args[1], pair_or_int(args[2]), stride=pair_or_int(o.get("stride", 1)),
                   padding=pair_or_int(o.get("padding", 0)),
                   dilation=pair_or_int(o.get("dilation", 1)), groups=o.get("groups", 1),
                   bias=o.get("bias", True))
    if kind == "MaxPool2d":
        return nn.MaxPool2d(pair_or_int(args[0]), stride=pair_or_int(o.get("stride")),
                            padding=pair_or_int(o.get("padding", 0)),
                            dilation=pair_or_int(o.get("dilation", 1)),
                            ceil_mode=o.get("ceilMode", False))
    if kind == "AvgPool2d":
        return nn.AvgPool2d(pair_or_int(args[0]), stride=pair_or_int(o.get("stride")),
                            padding=pair_or_int(o.get("padding", 0)),
                            ceil_mode=o.get("ceilMode", False),
                            count_include_pad=o.get("countIncludePad", True),
                            divisor_override=o.get("divisorOverride"))
    if kind == "AdaptiveAvgPool2d":
        return nn.AdaptiveAvgPool2d(pair_or_int(args[0]))
    if kind == "Flatten":
        return nn.Flatten(*args)
    assert kind == "CNN", kind
    # The layers of test/torch-cnn.test.ts's CNN, in the same order.
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(4, 6, 3, groups=2), nn.ReLU(), nn.AvgPool2d(2, stride=1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(6, 3))


def case(kind, args, options, input_shape, ties=False):
    """ties: an input of small integers, so that windows hold equal maxima (PyTorch's pools
    pick the first)."""
    module = make_module(kind, args, options)
    if ties:
        x = torch.randint(-1, 2, input_shape).float().requires_grad_(True)
    else:
        x = torch.randn(*input_shape, requires_grad=True)
    y = module(x)
    upstream = torch.randn_like(y)
    y.backward(upstream)
    return {
        "kind": kind,
        "args": args,
        "options": options,
        "state": {k: tensor_json(v) for k, v in module.state_dict().items()},
        "input": tensor_json(x),
        "output": tensor_json(y),
        "upstream": tensor_json(upstream),
        "inputGrad": tensor_json(x.grad),
        "paramGrads": {k: tensor_json(p.grad) for k, p in module.named_parameters()},
    }


def layer_cases():
    return [
        case("Conv2d", [3, 4, 3], {"padding": 1}, [2, 3, 6, 5]),
        case("Conv2d", [4, 6, [3, 2]],
             {"stride": [2, 1], "padding": [1, 0], "dilation": [1, 2], "groups": 2},
             [2, 4, 7, 8]),
        case("Conv2d", [3, 6, 3],
             {"stride": 2, "padding": 2, "dilation": 2, "groups": 3, "bias": False},
             [1, 3, 9, 9]),
        case("Conv2d", [2, 3, 2], {}, [2, 5, 5]),
        case("Conv2d", [5, 8, 5], {"padding": 2}, [3, 5, 12, 12]),
        case("Conv1d", [2, 4, 3], {}, [3, 2, 10]),
        case("Conv1d", [4, 4, 5], {"stride": 2, "padding": 2, "dilation": 2, "groups": 4},
             [2, 4, 17]),
        case("Conv1d", [3, 2, 1], {"bias": False}, [3, 6]),
        case("MaxPool2d", [2], {}, [2, 3, 6, 7]),
        case("MaxPool2d", [3], {"stride": 2, "padding": 1}, [2, 2, 7, 6]),
        case("MaxPool2d", [[2, 3]], {"stride": [1, 2], "padding": [1, 1]}, [3, 5, 8]),
        case("AvgPool2d", [2], {}, [2, 3, 6, 7]),
        case("AvgPool2d", [3], {"stride": 2, "padding": 1}, [2, 2, 7, 6]),
        case("AvgPool2d", [3], {"stride": 2, "padding": 1, "countIncludePad": False},
             [2, 2, 7, 6]),
        case("AvgPool2d", [[2, 3]], {"stride": 1, "padding": [1, 0]}, [1, 2, 5, 6]),
        case("AdaptiveAvgPool2d", [1], {}, [2, 3, 5, 4]),
        case("AdaptiveAvgPool2d", [[1, 1]], {}, [3, 4, 4]),
        case("Flatten", [], {}, [2, 3, 4, 5]),
        case("Flatten", [0, 2], {}, [2, 3, 4, 5]),
        case("CNN", [], {}, [2, 1, 10, 10]),
        # Odd geometries, appended so that the cases above keep their random numbers: dilation
        # 2 with stride 3 on a non-square input, 1 x 1 images in a batch of 1, depthwise
        # (groups = channels) on a 1 x 1 image whose padding is the whole window, pools of
        # small integers with ties (and a padded window at each border).
        case("Conv2d", [2, 3, [2, 3]], {"stride": 3, "padding": [0, 1], "dilation": 2},
             [1, 2, 7, 11]),
        case("Conv2d", [3, 5, 1], {}, [1, 3, 1, 1]),
        case("Conv2d", [4, 4, 3], {"padding": 1, "groups": 4}, [1, 4, 1, 1]),
        case("Conv1d", [3, 3, 2], {"stride": 3, "dilation": 2, "groups": 3}, [1, 3, 9]),
        case("MaxPool2d", [3], {"stride": [2, 3], "padding": 1}, [2, 2, 5, 7], ties=True),
        case("MaxPool2d", [[1, 4]], {"stride": 1}, [1, 3, 4, 4], ties=True),
        case("AvgPool2d", [[3, 2]], {"stride": [3, 1], "padding": [1, 1],
                                     "countIncludePad": False}, [1, 2, 4, 5]),
        # ceil_mode, dilation and divisor_override, appended likewise. ceil_mode adding a
        # clipped window on odd sizes (and on GoogLeNet's 3 at stride 2), with padding, the
        # last-window rule (5 + 2 * 1 at stride 2: a fourth window would start in the padding),
        # a kernel past the padded input (by less than the stride); dilation 2 and 3 with
        # padding, ceil_mode and ties.
        case("MaxPool2d", [2], {"ceilMode": True}, [2, 3, 7, 9]),
        case("MaxPool2d", [3], {"stride": 2, "padding": 1, "ceilMode": True}, [1, 2, 6, 8]),
        case("MaxPool2d", [2], {"stride": 2, "padding": 1, "ceilMode": True}, [1, 2, 5, 5]),
        case("MaxPool2d", [3], {"stride": 2, "ceilMode": True}, [1, 2, 14, 15]),
        case("MaxPool2d", [[5, 1]], {"stride": [3, 1], "ceilMode": True}, [1, 1, 4, 3]),
        case("MaxPool2d", [3], {"stride": 2, "ceilMode": True}, [2, 2, 7, 8], ties=True),
        case("MaxPool2d", [3], {"stride": 1, "dilation": 2}, [2, 2, 8, 9]),
        case("MaxPool2d", [[3, 2]], {"stride": 2, "padding": 1, "dilation": [3, 2],
                                     "ceilMode": True}, [1, 3, 10, 9]),
        case("MaxPool2d", [2], {"stride": 1, "padding": 1, "dilation": 3}, [1, 2, 6, 7],
             ties=True),
        case("MaxPool2d", [3], {"stride": 2, "padding": 1, "dilation": 3, "ceilMode": True},
             [2, 1, 9, 8], ties=True),
        case("AvgPool2d", [3], {"stride": 2, "padding": 1, "ceilMode": True}, [2, 2, 6, 7]),
        case("AvgPool2d", [3], {"stride": 2, "padding": 1, "ceilMode": True,
                                "countIncludePad": False}, [2, 2, 6, 7]),
        case("AvgPool2d", [2], {"stride": 2, "padding": 1, "ceilMode": True}, [1, 2, 5, 5]),
        case("AvgPool2d", [[2, 3]], {"stride": [2, 3], "padding": [1, 1], "ceilMode": True},
             [1, 2, 8, 8]),
        case("AvgPool2d", [5], {"stride": 3, "ceilMode": True}, [1, 1, 4, 6]),
        case("AvgPool2d", [[3, 2]], {"divisorOverride": 4}, [2, 2, 6, 5]),
        case("AvgPool2d", [3], {"stride": 2, "padding": 1, "ceilMode": True,
                                "divisorOverride": 5}, [1, 2, 8, 7]),
        case("AvgPool2d", [2], {"stride": 1, "padding": 1, "countIncludePad": False,
                                "divisorOverride": 3}, [3, 4, 5]),
    ]


# ---------------------------------------------------------------------------------------------
# nodegrad's state dicts in PyTorch's modules.


def read_safetensors(path):
    """A safetensors file of float32 tensors as {name: tensor}, read by hand (Debian's torch
    comes without the safetensors package): 8 bytes of header length, the JSON header, data."""
    with open(path, "rb") as f:
        data = f.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8 : 8 + length])
    base = 8 + length
    tensors = {}
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        assert entry["dtype"] == "F32", f"{name}: {entry['dtype']}"
        start, end = entry["data_offsets"]
        flat = torch.frombuffer(bytearray(data[base + start : base + end]), dtype=torch.float32)
        tensors[name] = flat.reshape(entry["shape"])
    return tensors


def from_nodegrad(layers, path):
    """Loads case i's nodegrad state dict strictly into its PyTorch module, and records what
    PyTorch computes with it on the case's input."""
    saved = read_safetensors(path)
    for i, c in enumerate(layers):
        if not c["state"]:
            continue
        prefix = f"{i}."
        state = {k[len(prefix):]: v for k, v in saved.items() if k.startswith(prefix)}
        module = make_module(c["kind"], c["args"], c["options"])
        module.load_state_dict(state, strict=True)
        x = torch.tensor(c["input"]["data"], dtype=torch.float32).reshape(c["input"]["shape"])
        with torch.no_grad():
            c["fromNodegrad"] = tensor_json(module(x))


def main():
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    layers = layer_cases()
    state_file = os.path.join(root, "test", "fixtures", "nodegrad-cnn-state.safetensors")
    if os.path.exists(state_file):
        from_nodegrad(layers, state_file)
    out = os.path.join(root, "test", "fixtures", "torch-cnn.json")
    with open(out, "w") as f:
        json.dump({"torch": torch.__version__, "layers": layers}, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.relpath(out, root)}: {len(layers)} cases")


if __name__ == "__main__":
    main()
