#!/usr/bin/env python3
"""Writes test/fixtures/torch-core.json: what PyTorch computes for the ops, losses and
optimizers of nodegrad's core, so the tests can check nodegrad against PyTorch without
Python. Run with Debian's python3-torch:

    apt-get install python3-torch && /usr/bin/python3 tools/make-torch-fixtures.py

Every case records its inputs, PyTorch's output and the gradients of every input for a
random upstream gradient, all in float32 as nodegrad trains.
"""
import json
import os

import torch

torch.manual_seed(20241203)
F = torch.nn.functional


def values(t):
    return [round(float(v), 9) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t):
    return {"shape": list(t.shape), "data": values(t)}


def case(name, fn, inputs, extra=None):
    """Runs fn on leaf copies of inputs, backpropagates a random upstream gradient."""
    leaves = [x.clone().requires_grad_(True) for x in inputs]
    out = fn(*leaves)
    upstream = torch.randn_like(out)
    out.backward(upstream)
    entry = {
        "name": name,
        "inputs": [tensor_json(x) for x in inputs],
        "output": tensor_json(out),
        "upstream": tensor_json(upstream),
        "grads": [tensor_json(x.grad) for x in leaves],
    }
    entry.update(extra or {})
    return entry


def op_cases():
    randn = torch.randn
    labels = torch.tensor([2, 0, 4, 1])
    probs = torch.rand(3, 4) * 0.98 + 0.01
    binary = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 0.0, 0.3, 1.0], [0.0, 0.0, 1.0, 0.5]])
    return [
        case("add broadcast", lambda a, b: a + b, [randn(3, 4), randn(4)]),
        case("sub broadcast", lambda a, b: a - b, [randn(2, 1, 4), randn(3, 1)]),
        case("mul broadcast", lambda a, b: a * b, [randn(3, 4), randn(3, 1)]),
        case("div broadcast", lambda a, b: a / b, [randn(3, 4), torch.rand(4) + 0.5]),
        case("exp", torch.exp, [randn(5)]),
        case("log", torch.log, [torch.rand(5) + 0.1]),
        case("pow 3", lambda a: a.pow(3), [randn(5)]),
        case("sum axis 1", lambda a: a.sum(1), [randn(3, 4, 2)]),
        case("mean all", lambda a: a.mean(), [randn(3, 4)]),
        case("max axis 0", lambda a: a.max(0).values, [randn(4, 3)]),
        case("relu", F.relu, [randn(4, 5)]),
        case("sigmoid", torch.sigmoid, [randn(4, 5) * 4]),
        case("tanh", torch.tanh, [randn(4, 5) * 2]),
        case("softmax", lambda a: F.softmax(a, dim=-1), [randn(3, 7)]),
        case("logSoftmax", lambda a: F.log_softmax(a, dim=-1), [randn(3, 7)]),
        case("matmul", torch.matmul, [randn(3, 5), randn(5, 2)]),
        case("transpose", lambda a: a.transpose(0, 2), [randn(2, 3, 4)]),
        case("linear", F.linear, [randn(4, 6), randn(3, 6), randn(3)]),
        case("mseLoss mean", F.mse_loss, [randn(3, 4), randn(3, 4)]),
        case(
            "mseLoss sum",
            lambda a, b: F.mse_loss(a, b, reduction="sum"),
            [randn(5), randn(5)],
        ),
        case(
            "crossEntropy mean",
            lambda a: F.cross_entropy(a, labels),
            [randn(4, 5)],
            {"targets": labels.tolist()},
        ),
        case(
            "crossEntropy none",
            lambda a: F.cross_entropy(a, labels, reduction="none"),
            [randn(4, 5)],
            {"targets": labels.tolist()},
        ),
        case(
            "binaryCrossEntropy mean",
            lambda p: F.binary_cross_entropy(p, binary),
            [probs],
            {"target": tensor_json(binary)},
        ),
        case(
            "binaryCrossEntropyWithLogits sum",
            lambda x: F.binary_cross_entropy_with_logits(x, binary, reduction="sum"),
            [randn(3, 4) * 3],
            {"target": tensor_json(binary)},
        ),
    ]


def mlp_case():
    """One training step's worth of the main job's network, scaled down: 12-8-6-4 ReLU."""
    model = torch.nn.Sequential(
        torch.nn.Linear(12, 8), torch.nn.ReLU(), torch.nn.Linear(8, 6), torch.nn.ReLU(),
        torch.nn.Linear(6, 4),
    )
    x = torch.randn(5, 12)
    y = torch.tensor([3, 0, 1, 3, 2])
    state = {k: tensor_json(v) for k, v in model.state_dict().items()}
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    return {
        "state": state,
        "input": tensor_json(x),
        "targets": y.tolist(),
        "loss": float(loss),
        "grads": {k: tensor_json(p.grad) for k, p in model.named_parameters()},
    }


def optimizer_case(name, make, options):
    """Five steps from the same start with the same gradients: the parameter after each."""
    start = torch.randn(7)
    grads = [torch.randn(7) for _ in range(5)]
    p = start.clone().requires_grad_(True)
    optimizer = make([p])
    steps = []
    for g in grads:
        p.grad = g.clone()
        optimizer.step()
        steps.append(values(p))
    return {
        "name": name,
        "options": options,
        "start": values(start),
        "grads": [values(g) for g in grads],
        "steps": steps,
    }


def optimizer_cases():
    optim = torch.optim
    sgd = [
        ("SGD plain", {"lr": 0.1}),
        ("SGD momentum", {"lr": 0.1, "momentum": 0.9}),
        ("SGD dampening", {"lr": 0.05, "momentum": 0.8, "dampening": 0.3}),
        ("SGD nesterov + decay", {"lr": 0.1, "momentum": 0.9, "nesterov": True,
                                  "weightDecay": 0.01}),
    ]
    adam = [
        ("Adam", "Adam", {"lr": 0.01}),
        ("Adam weight decay", "Adam", {"lr": 0.01, "betas": [0.8, 0.99], "weightDecay": 0.1}),
        ("AdamW", "AdamW", {"lr": 0.01}),
        ("AdamW strong decay", "AdamW", {"lr": 0.05, "eps": 1e-6, "weightDecay": 0.5}),
    ]
    cases = []
    for name, o in sgd:
        make = lambda ps, o=o: optim.SGD(
            ps, lr=o["lr"], momentum=o.get("momentum", 0), dampening=o.get("dampening", 0),
            nesterov=o.get("nesterov", False), weight_decay=o.get("weightDecay", 0))
        cases.append(optimizer_case(name, make, {"kind": "SGD", **o}))
    for name, kind, o in adam:
        cls = getattr(optim, kind)
        default_decay = 0.01 if kind == "AdamW" else 0
        make = lambda ps, o=o, cls=cls, d=default_decay: cls(
            ps, lr=o["lr"], betas=tuple(o.get("betas", (0.9, 0.999))), eps=o.get("eps", 1e-8),
            weight_decay=o.get("weightDecay", d))
        cases.append(optimizer_case(name, make, {"kind": kind, **o}))
    return cases


def main():
    fixture = {
        "torch": torch.__version__,
        "ops": op_cases(),
        "mlp": mlp_case(),
        "optimizers": optimizer_cases(),
    }
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures", "torch-core.json")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    print(f"wrote {os.path.normpath(path)}: {len(fixture['ops'])} ops, "
          f"{len(fixture['optimizers'])} optimizers, torch {torch.__version__}")


if __name__ == "__main__":
    main()
