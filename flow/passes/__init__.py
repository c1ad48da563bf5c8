"""a2q-flow's own graph passes on qonnx/FINN models, one transformation per file.

Each transformation follows qonnx: ``apply(model) -> (model, changed)`` with an honest
``changed``. Analyses are plain functions returning dicts. None of these modules imports FINN;
they recognise FINN's HW nodes by op type.
"""

from flow.passes.absorb_input_reshape import AbsorbInputReshape
from flow.passes.annotate_input import AnnotateInputDatatype
from flow.passes.exact_accumulator_width import (
    ExactAccumulatorWidth,
    exact_accumulator_range,
)
from flow.passes.fold_bias_quant import FoldConvBiasQuant
from flow.passes.gemm_to_matmul import ConstWeightGemmToMatMul
from flow.passes.layer_summary import hw_layer_summary
from flow.passes.mul_past_maxpool_nhwc import MoveScalarMulPastMaxPoolNHWC
from flow.passes.output_channels_last import MakeOutputChannelsLast
from flow.passes.prune_channels import PruneDeadChannels
from flow.passes.reduce_mean_to_gap import ReduceMeanToGlobalAveragePool
from flow.passes.remove_identity_input_quant import RemoveIdentityInputThreshold
from flow.passes.reshape_before_quant import MoveReshapeBeforeQuant
from flow.passes.split_host_tail import HOST_TAIL_KEY, SplitOffHostTail, apply_host_tail
from flow.passes.unsigned_binary_acts import FixUnsignedBinaryActs
from flow.passes.weight_scale_after_matmul import MoveWeightScaleAfterMatMul

__all__ = [
    "HOST_TAIL_KEY",
    "AbsorbInputReshape",
    "AnnotateInputDatatype",
    "ConstWeightGemmToMatMul",
    "ExactAccumulatorWidth",
    "FixUnsignedBinaryActs",
    "FoldConvBiasQuant",
    "MakeOutputChannelsLast",
    "MoveReshapeBeforeQuant",
    "MoveScalarMulPastMaxPoolNHWC",
    "MoveWeightScaleAfterMatMul",
    "PruneDeadChannels",
    "ReduceMeanToGlobalAveragePool",
    "RemoveIdentityInputThreshold",
    "SplitOffHostTail",
    "apply_host_tail",
    "exact_accumulator_range",
    "hw_layer_summary",
]
