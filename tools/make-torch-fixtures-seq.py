#!/usr/bin/env python3
"""Writes test/fixtures/torch-seq.json: what PyTorch computes for nodegrad's recurrent layers
and training utilities, so the tests can check nodegrad against PyTorch without Python. Run
with Debian's python3-torch:

    apt-get install python3-torch && /usr/bin/python3 tools/make-torch-fixtures-seq.py

- layers: Embedding, RNN (tanh, relu), LSTM and GRU in several configurations: the state dict
  (PyTorch's names and shapes), the input and initial state, the outputs, a random upstream
  gradient for every output, and the gradients of the input, the initial state and every
  parameter;
- optimizers: five steps of RMSprop and Adagrad configurations;
- schedulers: the learning rates StepLR, CosineAnnealingLR, LinearLR and ReduceLROnPlateau
  set, step by step, for two parameter groups;
- clip: clip_grad_norm_ (several norm types) and clip_grad_value_ on three gradients;
- init: what cannot be compared sample by sample (PyTorch's random stream is not nodegrad's):
  gains, fans, and the bound or standard deviation of each scheme, with PyTorch's sample
  statistics on a large tensor.
"""
import json
import math
import os

import torch

torch.manual_seed(20261203)
nn = torch.nn


def values(t):
    return [float("%.8g" % v) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t):
    return {"shape": list(t.shape), "data": values(t)}


# ---------------------------------------------------------------------------------------------
# Layers.


def run_layer(module, x, state):
    """Forward, a random upstream gradient for every output, backward. state may be None."""
    x = x.clone().requires_grad_(x.is_floating_point())
    leaves = None
    if state is not None:
        leaves = tuple(s.clone().requires_grad_(True) for s in state)
    if isinstance(module, nn.Embedding):
        outputs = [module(x)]
    elif isinstance(module, nn.LSTM):
        out, (h, c) = module(x, leaves)
        outputs = [out, h, c]
    else:
        out, h = module(x, None if leaves is None else leaves[0])
        outputs = [out, h]
    upstream = [torch.randn_like(o) for o in outputs]
    torch.autograd.backward(outputs, upstream)
    entry = {
        "state": {k: tensor_json(v) for k, v in module.state_dict().items()},
        "outputs": [tensor_json(o) for o in outputs],
        "upstream": [tensor_json(u) for u in upstream],
        "paramGrads": {k: tensor_json(p.grad) for k, p in module.named_parameters()},
    }
    if x.is_floating_point():
        entry["input"] = tensor_json(x)
        entry["inputGrad"] = tensor_json(x.grad)
    else:
        entry["indices"] = {"shape": list(x.shape), "data": x.reshape(-1).tolist()}
    if leaves is not None:
        entry["initial"] = [tensor_json(s) for s in leaves]
        entry["initialGrads"] = [tensor_json(s.grad) for s in leaves]
    return entry


def recurrent_case(kind, options, seq, batch, with_state):
    cls = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}[kind]
    torch_options = {
        "num_layers": options.get("numLayers", 1),
        "bias": options.get("bias", True),
        "batch_first": options.get("batchFirst", False),
    }
    if kind == "RNN":
        torch_options["nonlinearity"] = options.get("nonlinearity", "tanh")
    module = cls(options["inputSize"], options["hiddenSize"], **torch_options)
    shape = [batch, seq] if torch_options["batch_first"] else [seq, batch]
    x = torch.randn(*shape, options["inputSize"])
    state = None
    if with_state:
        layers = torch_options["num_layers"]
        count = 2 if kind == "LSTM" else 1
        state = [torch.randn(layers, batch, options["hiddenSize"]) for _ in range(count)]
    entry = run_layer(module, x, state)
    entry.update({"kind": kind, "options": options})
    return entry


def embedding_case(options, indices):
    module = nn.Embedding(options["numEmbeddings"], options["embeddingDim"],
                          padding_idx=options.get("paddingIdx"))
    entry = run_layer(module, indices, None)
    entry.update({"kind": "Embedding", "options": options})
    return entry


def layer_cases():
    return [
        embedding_case({"numEmbeddings": 10, "embeddingDim": 4},
                       torch.tensor([[1, 3, 3, 9, 0], [2, 2, 7, 1, 3]])),
        embedding_case({"numEmbeddings": 6, "embeddingDim": 5, "paddingIdx": 2},
                       torch.tensor([2, 0, 2, 5, 1, 2, 4])),
        recurrent_case("RNN", {"inputSize": 3, "hiddenSize": 5}, 4, 2, False),
        recurrent_case("RNN", {"inputSize": 4, "hiddenSize": 3, "numLayers": 2,
                               "nonlinearity": "relu", "batchFirst": True}, 5, 3, True),
        recurrent_case("RNN", {"inputSize": 2, "hiddenSize": 4, "bias": False}, 3, 2, True),
        recurrent_case("LSTM", {"inputSize": 3, "hiddenSize": 5}, 4, 2, False),
        recurrent_case("LSTM", {"inputSize": 4, "hiddenSize": 3, "numLayers": 2,
                                "batchFirst": True}, 5, 3, True),
        recurrent_case("LSTM", {"inputSize": 2, "hiddenSize": 17, "bias": False}, 3, 2, True),
        recurrent_case("GRU", {"inputSize": 3, "hiddenSize": 5}, 4, 2, False),
        recurrent_case("GRU", {"inputSize": 4, "hiddenSize": 3, "numLayers": 2,
                               "batchFirst": True}, 5, 3, True),
        recurrent_case("GRU", {"inputSize": 2, "hiddenSize": 4, "bias": False}, 3, 2, True),
    ]


# ---------------------------------------------------------------------------------------------
# Optimizers: five steps from one start with fixed gradients.


def optimizer_case(name, make, options):
    start = torch.randn(3, 4)
    grads = [torch.randn(3, 4) for _ in range(5)]
    p = start.clone().requires_grad_(True)
    optimizer = make([p])
    steps = []
    for g in grads:
        p.grad = g.clone()
        optimizer.step()
        steps.append(values(p))
    return {"name": name, "options": options, "start": values(start),
            "grads": [values(g) for g in grads], "steps": steps}


def optimizer_cases():
    rmsprop = [
        ("RMSprop defaults", {"lr": 0.01}),
        ("RMSprop momentum centered", {"lr": 0.01, "momentum": 0.9, "centered": True}),
        ("RMSprop decay", {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "weightDecay": 0.1}),
        ("RMSprop everything", {"lr": 0.02, "alpha": 0.95, "momentum": 0.5, "centered": True,
                                "weightDecay": 0.01}),
    ]
    adagrad = [
        ("Adagrad defaults", {"lr": 0.1}),
        ("Adagrad decays", {"lr": 0.1, "lrDecay": 0.1, "weightDecay": 0.05,
                            "initialAccumulatorValue": 0.1, "eps": 1e-6}),
    ]
    cases = []
    for name, o in rmsprop:
        make = lambda ps, o=o: torch.optim.RMSprop(
            ps, lr=o["lr"], alpha=o.get("alpha", 0.99), eps=o.get("eps", 1e-8),
            weight_decay=o.get("weightDecay", 0), momentum=o.get("momentum", 0),
            centered=o.get("centered", False))
        cases.append(optimizer_case(name, make, {"kind": "RMSprop", **o}))
    for name, o in adagrad:
        make = lambda ps, o=o: torch.optim.Adagrad(
            ps, lr=o["lr"], lr_decay=o.get("lrDecay", 0), weight_decay=o.get("weightDecay", 0),
            initial_accumulator_value=o.get("initialAccumulatorValue", 0),
            eps=o.get("eps", 1e-10))
        cases.append(optimizer_case(name, make, {"kind": "Adagrad", **o}))
    return cases


# ---------------------------------------------------------------------------------------------
# Schedulers: the learning rate of each of two groups after construction and each step.


def two_group_optimizer():
    a = torch.zeros(1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    return torch.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.01}], lr=0.1)


def scheduler_case(name, kind, options, make, steps, metrics=None):
    optimizer = two_group_optimizer()
    scheduler = make(optimizer)
    lrs = [[g["lr"] for g in optimizer.param_groups]]
    for i in range(steps):
        optimizer.step()
        if metrics is None:
            scheduler.step()
        else:
            scheduler.step(metrics[i])
        lrs.append([g["lr"] for g in optimizer.param_groups])
    entry = {"name": name, "kind": kind, "options": options, "lrs": lrs}
    if metrics is not None:
        entry["metrics"] = metrics
    return entry


def scheduler_cases():
    s = torch.optim.lr_scheduler
    plateau_metrics = [1.0, 0.9, 0.95, 0.91, 0.92, 0.5, 0.6, 0.7, 0.7, 0.7, 0.2, 0.3, 0.3, 0.3]
    rising = [0.1, 0.2, 0.2, 0.25, 0.2, 0.1, 0.1, 0.1, 0.9, 0.9]
    return [
        scheduler_case("StepLR", "StepLR", {"stepSize": 3, "gamma": 0.5},
                       lambda o: s.StepLR(o, step_size=3, gamma=0.5), 10),
        scheduler_case("CosineAnnealingLR", "CosineAnnealingLR", {"tMax": 5, "etaMin": 0.001},
                       lambda o: s.CosineAnnealingLR(o, T_max=5, eta_min=0.001), 14),
        scheduler_case("LinearLR warm-up", "LinearLR", {"startFactor": 0.1, "totalIters": 4},
                       lambda o: s.LinearLR(o, start_factor=0.1, total_iters=4), 8),
        scheduler_case("LinearLR decay", "LinearLR",
                       {"startFactor": 1.0, "endFactor": 0.2, "totalIters": 3},
                       lambda o: s.LinearLR(o, start_factor=1.0, end_factor=0.2, total_iters=3),
                       6),
        scheduler_case("ReduceLROnPlateau min rel", "ReduceLROnPlateau",
                       {"patience": 1, "factor": 0.5, "cooldown": 1, "threshold": 0.01},
                       lambda o: s.ReduceLROnPlateau(o, patience=1, factor=0.5, cooldown=1,
                                                     threshold=0.01),
                       len(plateau_metrics), plateau_metrics),
        scheduler_case("ReduceLROnPlateau max abs", "ReduceLROnPlateau",
                       {"mode": "max", "patience": 2, "factor": 0.1, "thresholdMode": "abs",
                        "threshold": 0.05, "minLr": [0.002, 0.0005]},
                       lambda o: s.ReduceLROnPlateau(o, mode="max", patience=2, factor=0.1,
                                                     threshold_mode="abs", threshold=0.05,
                                                     min_lr=[0.002, 0.0005]),
                       len(rising), rising),
    ]


# ---------------------------------------------------------------------------------------------
# Gradient clipping.


def clip_cases():
    grads = [torch.randn(3, 4), torch.randn(5), torch.randn(2, 2) * 3]
    cases = []
    for max_norm, norm_type in [(1.0, 2.0), (0.5, math.inf), (100.0, 1.0), (2.0, 3.0)]:
        params = [torch.zeros_like(g, requires_grad=True) for g in grads]
        for p, g in zip(params, grads):
            p.grad = g.clone()
        total = torch.nn.utils.clip_grad_norm_(params, max_norm, norm_type=norm_type)
        cases.append({"kind": "norm", "maxNorm": max_norm,
                      "normType": "inf" if norm_type == math.inf else norm_type,
                      "total": float(total), "clipped": [values(p.grad) for p in params]})
    params = [torch.zeros_like(g, requires_grad=True) for g in grads]
    for p, g in zip(params, grads):
        p.grad = g.clone()
    torch.nn.utils.clip_grad_value_(params, 0.3)
    cases.append({"kind": "value", "clipValue": 0.3, "clipped": [values(p.grad) for p in params]})
    return {"grads": [tensor_json(g) for g in grads], "cases": cases}


# ---------------------------------------------------------------------------------------------
# Initialisation: deterministic quantities, and PyTorch's sample statistics.


def init_cases():
    init = torch.nn.init
    shape = [256, 128]
    schemes = [
        ("xavierUniform_", {"gain": 1.0}, lambda t: init.xavier_uniform_(t)),
        ("xavierUniform_", {"gain": 5 / 3}, lambda t: init.xavier_uniform_(t, gain=5 / 3)),
        ("xavierNormal_", {"gain": 1.0}, lambda t: init.xavier_normal_(t)),
        ("kaimingUniform_", {}, lambda t: init.kaiming_uniform_(t)),
        ("kaimingUniform_", {"a": math.sqrt(5)},
         lambda t: init.kaiming_uniform_(t, a=math.sqrt(5))),
        ("kaimingUniform_", {"mode": "fan_out", "nonlinearity": "relu"},
         lambda t: init.kaiming_uniform_(t, mode="fan_out", nonlinearity="relu")),
        ("kaimingNormal_", {"nonlinearity": "relu"},
         lambda t: init.kaiming_normal_(t, nonlinearity="relu")),
        ("kaimingNormal_", {"mode": "fan_out", "a": 0.2},
         lambda t: init.kaiming_normal_(t, mode="fan_out", a=0.2)),
        ("normal_", {"mean": 0.5, "std": 0.2}, lambda t: init.normal_(t, 0.5, 0.2)),
        ("uniform_", {"a": -0.3, "b": 0.7}, lambda t: init.uniform_(t, -0.3, 0.7)),
        ("orthogonal_", {"gain": 1.0}, lambda t: init.orthogonal_(t)),
    ]
    cases = []
    for name, options, fn in schemes:
        t = fn(torch.empty(*shape))
        cases.append({"name": name, "options": options, "shape": shape,
                      "mean": float(t.mean()), "std": float(t.std()),
                      "min": float(t.min()), "max": float(t.max())})
    gains = {n: init.calculate_gain(n) for n in
             ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"]}
    gains["leaky_relu 0.2"] = init.calculate_gain("leaky_relu", 0.2)
    fans = {"[6, 4]": list(init._calculate_fan_in_and_fan_out(torch.empty(6, 4))),
            "[8, 3, 5, 5]": list(init._calculate_fan_in_and_fan_out(torch.empty(8, 3, 5, 5)))}
    return {"schemes": cases, "gains": gains, "fans": fans}


def main():
    fixture = {
        "torch": torch.__version__,
        "layers": layer_cases(),
        "optimizers": optimizer_cases(),
        "schedulers": scheduler_cases(),
        "clip": clip_cases(),
        "init": init_cases(),
    }
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "torch-seq.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}: {len(fixture['layers'])} layers, "
          f"{len(fixture['optimizers'])} optimizers, {len(fixture['schedulers'])} schedulers, "
          f"{len(fixture['clip']['cases'])} clip cases, {len(fixture['init']['schemes'])} init "
          f"schemes, torch {torch.__version__}")


if __name__ == "__main__":
    main()
