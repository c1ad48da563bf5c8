"""Annotate the graph input with the integer datatype the accelerator receives."""

from __future__ import annotations

from qonnx.core.datatype import DataType
from qonnx.core.modelwrapper import ModelWrapper
from qonnx.transformation.base import Transformation
from qonnx.transformation.infer_datatypes import InferDataTypes

from flow.errors import CompileError


class AnnotateInputDatatype(Transformation):
    """Set the datatype of the (single) graph input, e.g. ``UINT8`` for raw pixels.

    The exported QONNX graph input is FLOAT32; annotating the integer type is what lets
    streamlining and the accumulator analysis treat the first layer as integer arithmetic.
    """

    def __init__(self, datatype: str) -> None:
        """Remember the datatype name; it must be an integer QONNX datatype."""
        super().__init__()
        try:
            dtype = DataType[datatype]
        except (KeyError, ValueError) as err:
            raise CompileError(
                f"Input datatype must be a QONNX datatype name such as 'UINT8', not {datatype!r}"
            ) from err
        if not dtype.is_integer():
            raise CompileError(
                f"Input datatype must be an integer type (UINT<n>, INT<n>, BIPOLAR), "
                f"not {datatype!r}"
            )
        self.datatype = dtype

    def apply(self, model: ModelWrapper) -> tuple[ModelWrapper, bool]:
        """Annotate the input and propagate datatypes; ``changed`` if the type was different."""
        if len(model.graph.input) != 1:
            raise CompileError(
                f"The model must have exactly one graph input, found {len(model.graph.input)}: "
                f"{[i.name for i in model.graph.input]}"
            )
        name = model.graph.input[0].name
        if model.get_tensor_datatype(name) == self.datatype:
            return model, False
        model.set_tensor_datatype(name, self.datatype)
        model = model.transform(InferDataTypes())
        return model, True
