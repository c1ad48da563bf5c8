"""Networks written the way a user outside a2q-flow writes them: plain Brevitas modules, their
own bit widths, a signed 8-bit input quantizer, biases, and an A2Q layer. Used by
``tests/test_foreign.py`` as the QONNX files "made elsewhere".
"""

from __future__ import annotations

import numpy as np
import torch
from brevitas.nn import QuantConv2d, QuantIdentity, QuantLinear, QuantReLU
from brevitas.quant import Int32Bias
from brevitas.quant.scaled_int import Int8AccumulatorAwareWeightQuant
from torch import nn


class ConvNet(nn.Module):
    """8x8 digits: a 3x3 conv with an Int32Bias (signed 8-bit input), then two dense layers,
    the first A2Q-constrained at P=``acc_bits`` with a float bias the next quantizer absorbs."""

    def __init__(self, acc_bits: int = 14, trunc_pool: bool = False) -> None:
        super().__init__()
        from brevitas.nn import TruncAvgPool2d

        self.inp = QuantIdentity(bit_width=8, return_quant_tensor=True)  # signed 8-bit
        self.conv = QuantConv2d(1, 8, 3, padding=1, weight_bit_width=4, bias=True,
                                bias_quant=Int32Bias, return_quant_tensor=True)  # fmt: skip
        self.bn = nn.BatchNorm2d(8)
        self.act = QuantReLU(bit_width=4, return_quant_tensor=True)
        self.pool = TruncAvgPool2d(2, 2, bit_width=4) if trunc_pool else nn.Identity()
        size = 8 * (16 if trunc_pool else 64)
        self.fc1 = QuantLinear(size, 32, bias=True, weight_quant=Int8AccumulatorAwareWeightQuant,
                               weight_bit_width=4, weight_accumulator_bit_width=acc_bits,
                               input_bit_width=4)  # fmt: skip
        self.act2 = QuantReLU(bit_width=3, return_quant_tensor=True)
        self.fc2 = QuantLinear(32, 10, bias=False, weight_bit_width=6)

    def forward(self, x):
        x = self.pool(self.act(self.bn(self.conv(self.inp(x)))))
        return self.fc2(self.act2(self.fc1(x.flatten(1))))


class MLP(nn.Module):
    """A 2-layer MLP on the flattened digits at other bit widths (5-bit weights, 2-bit acts)."""

    def __init__(self) -> None:
        super().__init__()
        self.inp = QuantIdentity(bit_width=8, return_quant_tensor=True)
        self.hidden = QuantLinear(64, 24, bias=True, weight_bit_width=5)
        self.act = QuantReLU(bit_width=2, return_quant_tensor=True)
        self.out = QuantLinear(24, 10, bias=False, weight_bit_width=3)

    def forward(self, x):
        return self.out(self.act(self.hidden(self.inp(x).flatten(1))))


def digits() -> tuple[np.ndarray, np.ndarray]:
    """The 1797 digits as integer pixels (N, 1, 8, 8) uint8 and labels."""
    from sklearn.datasets import load_digits

    d = load_digits()
    return d.images.astype(np.uint8)[:, None], d.target.astype(np.int64)


def train(net: nn.Module, x: np.ndarray, y: np.ndarray, epochs: int = 3, seed: int = 0):
    """A few epochs of Adam, as a user's own script would; on one thread, so the same net
    comes out on every run (a multi-threaded CPU sum may round differently)."""
    torch.manual_seed(seed)
    xt, yt = torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y)
    opt = torch.optim.Adam(net.parameters(), 1e-2)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    net.train()
    try:
        for _ in range(epochs):
            for i in range(0, len(xt), 64):
                opt.zero_grad()
                nn.functional.cross_entropy(net(xt[i : i + 64]), yt[i : i + 64]).backward()
                opt.step()
    finally:
        torch.set_num_threads(threads)
    net.eval()
    return net


def export(net: nn.Module, path, sample: np.ndarray, write_back: bool = False) -> None:
    """Brevitas' own ``export_qonnx`` (raw float weights for A2Q layers), or after writing
    the quantized weights back as a2q-flow's export does (``write_back``)."""
    import copy

    from brevitas.export import export_qonnx

    x = torch.as_tensor(sample[:1], dtype=torch.float32)
    if write_back:
        from flow.export import write_back_quant_weights

        net = copy.deepcopy(net)
        write_back_quant_weights(net, torch.as_tensor(sample, dtype=torch.float32))
    export_qonnx(net, input_t=x, export_path=str(path))
