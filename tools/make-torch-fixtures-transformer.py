#!/usr/bin/env python3
"""Writes test/fixtures/torch-transformer.json: what PyTorch computes for nodegrad's transformer
layers (LayerNorm, GELU in both forms, MultiheadAttention with causal and padding masks, the
pre-norm TransformerEncoderLayer), so the tests can check nodegrad against PyTorch without
Python. Run with Debian's python3-torch:

    apt-get install python3-torch && /usr/bin/python3 tools/make-torch-fixtures-transformer.py

Every case records the module's configuration and state dict (PyTorch's names), its inputs,
its output, a random upstream gradient and the gradients of every input and parameter. Inputs
and weights are float32 values; PyTorch computes in float64 from them, so the fixture holds the
exact answer (to the digits stored) that nodegrad's float32 result is measured against, not
PyTorch's own float32 rounding, which is as far from it as nodegrad's is.

PyTorch 1.13 returns NaN for a query whose keys are all masked; nodegrad returns zeros there
(and passes no gradient through that row's attention). For those cases the script computes the
attention by hand with the module's own weights, checks that the hand version equals
nn.MultiheadAttention on every other row, and records the hand version.
"""
import copy
import json
import math
import os

import torch

torch.manual_seed(20241204)
F = torch.nn.functional


def values(t):
    return [float("%.9g" % v) for v in t.detach().reshape(-1).tolist()]


def tensor_json(t):
    return {"shape": list(t.shape), "data": values(t)}


def randomize(module):
    """Non-default weights everywhere (LayerNorm starts at 1 and 0), so every name matters."""
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn_like(p) * 0.5 + (1.0 if p.dim() == 1 and p.shape[0] > 0 else 0))
    return module


def record(name, module, forward, inputs, config, masks=None):
    """Runs forward(module, *leaves) and backpropagates a random upstream gradient."""
    state = {k: tensor_json(v) for k, v in module.state_dict().items()}
    single = copy.deepcopy(module)
    module.double()
    leaves = [x.double().requires_grad_(True) for x in inputs]
    module.zero_grad()
    out = forward(module, *leaves)
    upstream = torch.randn_like(out.float()).double()
    out.backward(upstream)
    print(f"{name}: PyTorch float32 error {float32_error(single, forward, inputs, upstream, out, leaves, module):.2g}"
          " (1 = the tests' tolerance)")
    return {
        "name": name,
        "config": config,
        "state": state,
        "inputs": [tensor_json(x) for x in inputs],
        "masks": masks or {},
        "output": tensor_json(out),
        "upstream": tensor_json(upstream),
        "inputGrads": [tensor_json(x.grad) for x in leaves],
        "paramGrads": {k: tensor_json(p.grad) for k, p in module.named_parameters()},
    }


def normwise(approx, exact):
    """max |approx - exact| / (1e-5 (|exact| + max |exact|)): above 1 fails the tests."""
    allowed = 1e-5 * (exact.abs() + exact.abs().max())
    return float(((approx.double() - exact).abs() / allowed.clamp_min(1e-300)).max())


def float32_error(single, forward, inputs, upstream, out, leaves, module):
    """How far PyTorch's own float32 run is from the float64 one, by the tests' measure."""
    xs = [x.clone().requires_grad_(True) for x in inputs]
    single.zero_grad()
    y = forward(single, *xs)
    y.backward(upstream.float())
    errors = [normwise(y, out)] + [normwise(a.grad, b.grad) for a, b in zip(xs, leaves)]
    errors += [normwise(p.grad, q.grad) for p, q in zip(single.parameters(), module.parameters())]
    return max(errors)


def layer_norm_cases():
    cases = []
    norm = randomize(torch.nn.LayerNorm(8))
    cases.append(record("LayerNorm(8)", norm, lambda m, x: m(x), [torch.randn(3, 5, 8) * 2 + 1],
                        {"normalizedShape": [8], "eps": 1e-5, "elementwiseAffine": True}))
    norm = randomize(torch.nn.LayerNorm([4, 6], eps=1e-3))
    cases.append(record("LayerNorm([4, 6], eps 1e-3)", norm, lambda m, x: m(x),
                        [torch.randn(2, 4, 6)],
                        {"normalizedShape": [4, 6], "eps": 1e-3, "elementwiseAffine": True}))
    norm = torch.nn.LayerNorm(7, elementwise_affine=False)
    cases.append(record("LayerNorm(7) without affine", norm, lambda m, x: m(x),
                        [torch.randn(4, 7) * 3],
                        {"normalizedShape": [7], "eps": 1e-5, "elementwiseAffine": False}))
    return cases


def gelu_cases():
    x = torch.randn(4, 9) * 3
    return [
        record("GELU", torch.nn.GELU(), lambda m, v: m(v), [x], {"approximate": "none"}),
        record("GELU tanh", torch.nn.GELU(approximate="tanh"), lambda m, v: m(v), [x],
               {"approximate": "tanh"}),
    ]


def causal(t):
    """PyTorch's square subsequent mask: -inf above the diagonal, 0 elsewhere."""
    return torch.triu(torch.full((t, t), float("-inf")), diagonal=1)


def padding(batch, length, padded):
    """A key padding mask with True (ignored) at the last padded[b] positions of row b."""
    mask = torch.zeros(batch, length, dtype=torch.bool)
    for b, n in enumerate(padded):
        if n > 0:
            mask[b, length - n:] = True
    return mask


def attention_by_hand(m, q, k, v, attn_mask, key_padding_mask):
    """nn.MultiheadAttention's forward (batch_first) written out, with a fully masked query
    row giving zeros instead of NaN."""
    n, t, e = q.shape
    s = k.shape[1]
    h = m.num_heads
    d = e // h
    w_q, w_k, w_v = m.in_proj_weight.chunk(3)
    b_q, b_k, b_v = m.in_proj_bias.chunk(3)
    heads = lambda x, length: x.reshape(n, length, h, d).transpose(1, 2)  # [n, h, len, d]
    qh = heads(F.linear(q, w_q, b_q), t)
    kh = heads(F.linear(k, w_k, b_k), s)
    vh = heads(F.linear(v, w_v, b_v), s)
    scores = qh @ kh.transpose(-2, -1) / math.sqrt(d)
    blocked = torch.zeros(n, h, t, s, dtype=q.dtype)
    if attn_mask is not None:
        blocked = blocked + attn_mask
    if key_padding_mask is not None:
        blocked = blocked.masked_fill(key_padding_mask[:, None, None, :], float("-inf"))
    scores = scores + blocked
    empty = torch.isinf(blocked).all(-1, keepdim=True)
    weights = F.softmax(scores.masked_fill(empty, 0.0), dim=-1).masked_fill(empty, 0.0)
    out = (weights @ vh).transpose(1, 2).reshape(n, t, e)
    return m.out_proj(out)


def mha_forward(attn_mask, key_padding_mask, by_hand):
    def forward(m, q, k, v):
        mask = None if attn_mask is None else attn_mask.to(q.dtype)
        if by_hand:
            return attention_by_hand(m, q, k, v, mask, key_padding_mask)
        out, _ = m(q, k, v, attn_mask=mask, key_padding_mask=key_padding_mask,
                   need_weights=False)
        return out
    return forward


def mha_case(name, e, h, q, k, v, attn_mask=None, key_padding_mask=None, self_attention=True):
    m = randomize(torch.nn.MultiheadAttention(e, h, batch_first=True))
    by_hand = key_padding_mask is not None and bool(key_padding_mask.all(-1).any())
    if by_hand:
        # The hand version must be the module on every row that has a key to attend to.
        with torch.no_grad():
            ours = attention_by_hand(m, q, k, v, attn_mask, key_padding_mask)
            theirs, _ = m(q, k, v, attn_mask=attn_mask, key_padding_mask=key_padding_mask)
            live = ~key_padding_mask.all(-1)
            assert torch.allclose(ours[live], theirs[live], atol=1e-6), name
            assert torch.isnan(theirs[~live]).all(), name
    else:
        with torch.no_grad():
            ours = attention_by_hand(m, q, k, v, attn_mask, key_padding_mask)
            theirs, _ = m(q, k, v, attn_mask=attn_mask, key_padding_mask=key_padding_mask)
            assert torch.allclose(ours, theirs, atol=1e-5), name
    masks = {}
    if attn_mask is not None:
        masks["attnMask"] = {"shape": list(attn_mask.shape),
                             "data": ["-inf" if math.isinf(x) else x
                                      for x in attn_mask.reshape(-1).tolist()]}
    if key_padding_mask is not None:
        masks["keyPaddingMask"] = {"shape": list(key_padding_mask.shape),
                                   "data": [int(x) for x in key_padding_mask.reshape(-1)]}
    inputs = [q] if self_attention else [q, k, v]
    if self_attention:
        forward = lambda mod, x: mha_forward(attn_mask, key_padding_mask, by_hand)(mod, x, x, x)
    else:
        forward = mha_forward(attn_mask, key_padding_mask, by_hand)
    return record(name, m, forward, inputs,
                  {"embedDim": e, "numHeads": h, "selfAttention": self_attention}, masks)


def mha_cases():
    x = torch.randn(2, 5, 16)
    return [
        mha_case("MHA self-attention", 16, 4, x, x, x),
        mha_case("MHA causal", 16, 4, x, x, x, attn_mask=causal(5)),
        mha_case("MHA key padding", 16, 4, x, x, x, key_padding_mask=padding(2, 5, [0, 2])),
        mha_case("MHA causal + padding", 16, 2, x, x, x, attn_mask=causal(5),
                 key_padding_mask=padding(2, 5, [1, 3])),
        mha_case("MHA fully masked row", 16, 4, x, x, x, key_padding_mask=padding(2, 5, [0, 5])),
        mha_case("MHA cross-attention", 12, 3, torch.randn(2, 3, 12), torch.randn(2, 6, 12),
                 torch.randn(2, 6, 12), key_padding_mask=padding(2, 6, [2, 0]),
                 self_attention=False),
    ]


def block_case(name, attn_mask=None, key_padding_mask=None):
    layer = randomize(torch.nn.TransformerEncoderLayer(
        d_model=16, nhead=4, dim_feedforward=32, dropout=0.0, activation="gelu",
        batch_first=True, norm_first=True))
    masks = {}
    if attn_mask is not None:
        masks["attnMask"] = {"shape": list(attn_mask.shape),
                             "data": ["-inf" if math.isinf(x) else x
                                      for x in attn_mask.reshape(-1).tolist()]}
    if key_padding_mask is not None:
        masks["keyPaddingMask"] = {"shape": list(key_padding_mask.shape),
                                   "data": [int(x) for x in key_padding_mask.reshape(-1)]}
    forward = lambda m, x: m(x, src_mask=None if attn_mask is None else attn_mask.double(),
                             src_key_padding_mask=key_padding_mask)
    return record(name, layer, forward, [torch.randn(2, 5, 16)],
                  {"dModel": 16, "nhead": 4, "dimFeedforward": 32}, masks)


def block_cases():
    return [
        block_case("TransformerEncoderLayer"),
        block_case("TransformerEncoderLayer causal", attn_mask=causal(5)),
        block_case("TransformerEncoderLayer causal + padding", attn_mask=causal(5),
                   key_padding_mask=padding(2, 5, [0, 2])),
    ]


def main():
    fixture = {
        "torch": torch.__version__,
        "layerNorm": layer_norm_cases(),
        "gelu": gelu_cases(),
        "attention": mha_cases(),
        "block": block_cases(),
    }
    path = os.path.join(os.path.dirname(__file__), "..", "test", "fixtures",
                        "torch-transformer.json")
    with open(path, "w") as f:
        json.dump(fixture, f, separators=(",", ":"))
        f.write("\n")
    count = sum(len(v) for k, v in fixture.items() if k != "torch")
    print(f"wrote {os.path.normpath(path)}: {count} cases, torch {torch.__version__}")


if __name__ == "__main__":
    main()
