"""a2q-flow: from accumulator-aware quantized training to a synthesized FPGA accelerator."""

__version__ = "0.1.0"
