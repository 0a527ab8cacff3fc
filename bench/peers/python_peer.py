#!/usr/bin/python3
"""PyTorch and numpy for bench/run.js: one JSON request per line on stdin, one JSON answer per
line on stdout, so that bench/run.js can interleave their repetitions with nodegrad's.

Requests:
  {"cmd": "hello"}
      -> {"torch": "1.13.0", "numpy": "1.24.2", "blas": "...", "threads": 2}
  {"cmd": "run", "workload": "W1", "peer": "torch", "threads": 1, "count": 5000, "params": {}}
      -> {"seconds": 0.41}: the time of `count` units of the workload (steps, batches, calls),
         setup not included.
  Any failure -> {"error": "message"}.

Data and initial weights come from files bench/run.js writes (params name them): float32 and
int32 arrays in native byte order, as numpy.fromfile reads them.
"""

import ctypes
import json
import os
import sys
import time

try:
    import numpy as np
except ImportError:  # reported by hello; every numpy request then fails
    np = None

try:
    import torch
    import torch.nn.functional as F
except ImportError:
    torch = None


# ---------------------------------------------------------------------------------------------
# Threads. numpy's BLAS (Debian's OpenBLAS) has its own pool beside torch's OpenMP pool; both
# are set, so that "1 thread" means one thread for everything.


def openblas_handles():
    """Every OpenBLAS library loaded into this process (numpy's and torch's may differ)."""
    handles = []
    seen = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if "openblas" in path and path not in seen and os.path.exists(path):
                seen.add(path)
                try:
                    handles.append(ctypes.CDLL(path))
                except OSError:
                    pass
    return [h for h in handles if hasattr(h, "openblas_set_num_threads")]


def set_threads(n):
    for handle in openblas_handles():
        handle.openblas_set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def blas_description():
    parts = []
    for handle in openblas_handles():
        try:
            handle.openblas_get_corename.restype = ctypes.c_char_p
            parts.append("OpenBLAS " + handle.openblas_get_corename().decode())
        except AttributeError:
            parts.append("OpenBLAS")
    return ", ".join(sorted(set(parts))) or "unknown"


# ---------------------------------------------------------------------------------------------
# Shared inputs, read once.

cache = {}


def load(path, dtype, shape):
    key = (path, dtype)
    if key not in cache:
        cache[key] = np.fromfile(path, dtype=dtype).reshape(shape)
    return cache[key]


def weights(params):
    """The initial weights as {name: float32 array}, from the manifest bench/run.js wrote."""
    with open(params["weights"]) as f:
        manifest = json.load(f)
    folder = os.path.dirname(params["weights"])
    return {
        name: load(os.path.join(folder, entry["file"]), np.float32, entry["shape"]).copy()
        for name, entry in manifest.items()
    }


def timed(step, count):
    start = time.perf_counter()
    for i in range(count):
        step(i)
    return time.perf_counter() - start


# ---------------------------------------------------------------------------------------------
# W0: an add of two 1-element tensors.


def w0_torch(params, count):
    grad = params["backward"]
    a = torch.ones(1, requires_grad=grad)
    b = torch.ones(1, requires_grad=grad)
    if not grad:
        return timed(lambda i: torch.add(a, b), count)
    return timed(lambda i: torch.add(a, b).backward(), count)


def w0_numpy(params, count):
    if params["backward"]:
        raise ValueError("numpy has no autograd")
    a = np.ones(1, dtype=np.float32)
    b = np.ones(1, dtype=np.float32)
    return timed(lambda i: np.add(a, b), count)


# ---------------------------------------------------------------------------------------------
# W1: the 2-2-1 sigmoid network on XOR, MSE, SGD lr 0.5, one sample per step.

XOR_X = [[0, 0], [0, 1], [1, 0], [1, 1]]
XOR_Y = [[0], [1], [1], [0]]


def torch_sequential(layers, w):
    """nn.Sequential of Linear layers (with the activation after each) from the weights."""
    modules = []
    for i, activation in enumerate(layers):
        weight = torch.from_numpy(w[f"{2 * i}.weight"])
        linear = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            linear.weight.copy_(weight)
            linear.bias.copy_(torch.from_numpy(w[f"{2 * i}.bias"]))
        modules.append(linear)
        if activation is not None:
            modules.append(activation())
    return torch.nn.Sequential(*modules)


def w1_torch(params, count):
    model = torch_sequential([torch.nn.Sigmoid, torch.nn.Sigmoid], weights(params))
    opt = torch.optim.SGD(model.parameters(), lr=params["lr"])
    xs = [torch.tensor([x], dtype=torch.float32) for x in XOR_X]
    ys = [torch.tensor([y], dtype=torch.float32) for y in XOR_Y]

    def step(i):
        loss = F.mse_loss(model(xs[i & 3]), ys[i & 3])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, count)


def sigmoid(x):
    return 1 / (1 + np.exp(-x))


def w1_numpy(params, count):
    w = weights(params)
    w1, b1, w2, b2 = w["0.weight"], w["0.bias"], w["2.weight"], w["2.bias"]
    lr = np.float32(params["lr"])
    xs = [np.array([x], dtype=np.float32) for x in XOR_X]
    ys = [np.array([y], dtype=np.float32) for y in XOR_Y]

    def step(i):
        x, y = xs[i & 3], ys[i & 3]
        h = sigmoid(x @ w1.T + b1)
        out = sigmoid(h @ w2.T + b2)
        g_out = 2 * (out - y) / out.size * out * (1 - out)
        g_h = (g_out @ w2) * h * (1 - h)
        w2[...] -= lr * (g_out.T @ h)
        b2[...] -= lr * g_out.sum(0)
        w1[...] -= lr * (g_h.T @ x)
        b1[...] -= lr * g_h.sum(0)

    return timed(step, count)


# ---------------------------------------------------------------------------------------------
# W2: MLP 784-256-128-10 ReLU, cross-entropy, batch 64, SGD momentum or Adam.


def mnist(params):
    n = params["samples"]
    images = load(params["images"], np.float32, (n, 784))
    labels = load(params["labels"], np.int32, (n,))
    return images, labels


def w2_torch(params, count):
    images, labels = mnist(params)
    x_all = torch.from_numpy(images)
    y_all = torch.from_numpy(labels.astype(np.int64))
    relu = torch.nn.ReLU
    model = torch_sequential([relu, relu, None], weights(params))
    if params["optimizer"] == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=params["lr"], momentum=params["momentum"])
    else:
        opt = torch.optim.Adam(model.parameters(), lr=params["lr"])
    batch = params["batch"]
    batches = len(labels) // batch

    def step(i):
        start = (i % batches) * batch
        loss = F.cross_entropy(model(x_all[start : start + batch]), y_all[start : start + batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, count)


def w2_numpy(params, count):
    """Forward, backward and the update written out by hand, float32 throughout."""
    images, labels = mnist(params)
    w = weights(params)
    names = ["0.weight", "0.bias", "2.weight", "2.bias", "4.weight", "4.bias"]
    p = [w[name] for name in names]
    state = [np.zeros_like(t) for t in p]
    state2 = [np.zeros_like(t) for t in p]
    lr = np.float32(params["lr"])
    batch = params["batch"]
    batches = len(labels) // batch
    adam = params["optimizer"] == "adam"
    t = [0]

    def update(grads):
        if not adam:  # SGD with momentum, buffer = gradient on the first step
            for i, g in enumerate(grads):
                if t[0] == 0:
                    state[i][...] = g
                else:
                    state[i] *= np.float32(params["momentum"])
                    state[i] += g
                p[i] -= lr * state[i]
            t[0] += 1
            return
        t[0] += 1
        b1, b2, eps = np.float32(0.9), np.float32(0.999), np.float32(1e-8)
        c1 = 1 - 0.9 ** t[0]
        c2 = 1 - 0.999 ** t[0]
        for i, g in enumerate(grads):
            state[i] *= b1
            state[i] += (1 - b1) * g
            state2[i] *= b2
            state2[i] += (1 - b2) * g * g
            p[i] -= np.float32(lr / c1) * state[i] / (np.sqrt(state2[i] / np.float32(c2)) + eps)

    def step(i):
        start = (i % batches) * batch
        x = images[start : start + batch]
        y = labels[start : start + batch]
        w1, b1, w2, b2, w3, b3 = p
        z1 = x @ w1.T + b1
        h1 = np.maximum(z1, 0)
        z2 = h1 @ w2.T + b2
        h2 = np.maximum(z2, 0)
        z3 = h2 @ w3.T + b3
        z3 -= z3.max(1, keepdims=True)
        e = np.exp(z3)
        probs = e / e.sum(1, keepdims=True)
        g3 = probs
        g3[np.arange(len(y)), y] -= 1
        g3 /= np.float32(len(y))
        g2 = (g3 @ w3) * (z2 > 0)
        g1 = (g2 @ w2) * (z1 > 0)
        update([g1.T @ x, g1.sum(0), g2.T @ h1, g2.sum(0), g3.T @ h2, g3.sum(0)])

    return timed(step, count)


# ---------------------------------------------------------------------------------------------
# W3: one matrix product C = op(A) op(B), op(A) [m, k], op(B) [k, n].


def w3_operands(params):
    m, n, k = params["m"], params["n"], params["k"]
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (k, m) if params["transA"] else (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, k) if params["transB"] else (k, n)).astype(np.float32)
    return (a.T if params["transA"] else a), (b.T if params["transB"] else b)


def w3_torch(params, count):
    a, b = (torch.from_numpy(t) for t in w3_operands(params))
    return timed(lambda i: torch.mm(a, b), count)


def w3_numpy(params, count):
    a, b = w3_operands(params)
    return timed(lambda i: a @ b, count)


# ---------------------------------------------------------------------------------------------
# W4: the CNN of `--model cnn` (lib/cli/mnist-models.ts's MnistCnn), Adam.


def w4_torch(params, count):
    images, labels = mnist(params)
    x_all = torch.from_numpy(images).reshape(-1, 1, 28, 28)
    y_all = torch.from_numpy(labels.astype(np.int64))

    class Cnn(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = torch.nn.Conv2d(1, 32, 3, padding=1)
            self.conv2 = torch.nn.Conv2d(32, 64, 3, padding=1)
            self.pool = torch.nn.MaxPool2d(2)
            self.fc1 = torch.nn.Linear(64 * 7 * 7, 128)
            self.fc2 = torch.nn.Linear(128, 10)

        def forward(self, x):
            x = self.pool(F.relu(self.conv1(x)))
            x = self.pool(F.relu(self.conv2(x)))
            return self.fc2(F.relu(self.fc1(x.flatten(1))))

    model = Cnn()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights(params).items()})
    opt = torch.optim.Adam(model.parameters(), lr=params["lr"])
    batch = params["batch"]
    batches = len(labels) // batch

    def step(i):
        start = (i % batches) * batch
        loss = F.cross_entropy(model(x_all[start : start + batch]), y_all[start : start + batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, count)


# ---------------------------------------------------------------------------------------------
# W5: an LSTM(28, 128) over the rows of each digit, Linear(128, 10) on h_n, Adam.


def w5_torch(params, count):
    images, labels = mnist(params)
    x_all = torch.from_numpy(images).reshape(-1, 28, 28)
    y_all = torch.from_numpy(labels.astype(np.int64))

    class RowLstm(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = torch.nn.LSTM(28, 128, batch_first=True)
            self.fc = torch.nn.Linear(128, 10)

        def forward(self, x):
            _, (h, _) = self.lstm(x)
            return self.fc(h[-1])

    model = RowLstm()
    model.load_state_dict({k: torch.from_numpy(v) for k, v in weights(params).items()})
    opt = torch.optim.Adam(model.parameters(), lr=params["lr"])
    batch = params["batch"]
    batches = len(labels) // batch

    def step(i):
        start = (i % batches) * batch
        loss = F.cross_entropy(model(x_all[start : start + batch]), y_all[start : start + batch])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, count)


# ---------------------------------------------------------------------------------------------
# W6: the character-level GPT of `nodegrad train text`, AdamW, gradients clipped to norm 1.


def w6_torch(params, count):
    n, batch, context = params["batches"], params["batch"], params["context"]
    tokens = torch.from_numpy(
        load(params["tokens"], np.int32, (n, batch, context)).astype(np.int64)
    )
    targets = torch.from_numpy(
        load(params["targets"], np.int32, (n, batch * context)).astype(np.int64)
    )
    vocab, d_model = params["vocab"], 128

    class CharGpt(torch.nn.Module):
        """nodegrad's GPT: PyTorch's own pre-norm GELU encoder layers, dropout 0."""

        def __init__(self):
            super().__init__()
            self.tok_emb = torch.nn.Embedding(vocab, d_model)
            self.pos_emb = torch.nn.Embedding(context, d_model)
            layer = dict(dim_feedforward=4 * d_model, dropout=0.0, activation="gelu")
            self.layers = torch.nn.ModuleList(
                torch.nn.TransformerEncoderLayer(
                    d_model, 4, **layer, batch_first=True, norm_first=True
                )
                for _ in range(2)
            )
            self.norm = torch.nn.LayerNorm(d_model)
            self.head = torch.nn.Linear(d_model, vocab, bias=False)
            causal = torch.triu(torch.full((context, context), float("-inf")), 1)
            self.register_buffer("mask", causal, persistent=False)

        def forward(self, x):
            h = self.tok_emb(x) + self.pos_emb(torch.arange(x.shape[1]))
            for layer in self.layers:
                h = layer(h, src_mask=self.mask)
            return self.head(self.norm(h))

    model = CharGpt()
    state = {k: torch.from_numpy(v) for k, v in weights(params).items()}
    model.load_state_dict(state)
    parameters = list(model.parameters())
    opt = torch.optim.AdamW(parameters, lr=params["lr"], weight_decay=params["weightDecay"])

    def step(i):
        logits = model(tokens[i % n])
        loss = F.cross_entropy(logits.reshape(-1, vocab), targets[i % n])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, 1.0)
        opt.step()

    return timed(step, count)


RUNNERS = {
    ("W0", "torch"): w0_torch,
    ("W0", "numpy"): w0_numpy,
    ("W1", "torch"): w1_torch,
    ("W1", "numpy"): w1_numpy,
    ("W2", "torch"): w2_torch,
    ("W2", "numpy"): w2_numpy,
    ("W3", "torch"): w3_torch,
    ("W3", "numpy"): w3_numpy,
    ("W4", "torch"): w4_torch,
    ("W5", "torch"): w5_torch,
    ("W6", "torch"): w6_torch,
}


def handle(request):
    if request["cmd"] == "hello":
        return {
            "torch": torch.__version__ if torch is not None else None,
            "numpy": np.__version__ if np is not None else None,
            "blas": blas_description() if np is not None else None,
            "threads": torch.get_num_threads() if torch is not None else None,
        }
    peer = request["peer"]
    if (peer == "torch" and torch is None) or np is None:
        raise RuntimeError(f"{peer} is not installed")
    runner = RUNNERS.get((request["workload"], peer))
    if runner is None:
        raise ValueError(f"no {peer} runner for {request['workload']}")
    set_threads(request["threads"])
    return {"seconds": runner(request["params"], request["count"])}


def main():
    for line in sys.stdin:
        try:
            answer = handle(json.loads(line))
        except Exception as error:  # every failure goes back as an answer, the peer lives on
            answer = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(answer) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    main()
