"""The exception types of a2q-flow.

Every error a user can cause is one of these, and its message says what was wrong, where
(config key, file, layer) and what is allowed. ``assert`` is never used on user input.
"""


class A2QError(Exception):
    """Base class of every error a2q-flow raises on purpose."""


class ConfigError(A2QError):
    """A config value is missing, unknown, of the wrong type or out of range."""


class InfeasibleError(ConfigError):
    """A well-formed config asking for something no network can meet (an accumulator too
    narrow for any data types of a layer): a sweep records such a point instead of failing."""


class DataError(A2QError):
    """A dataset cannot be found or does not have the expected file format."""


class BoundError(A2QError):
    """Integer weights break their accumulator budget or target width."""


class ExportError(A2QError):
    """The exported model does not match the trained one or breaks its guarantee."""


class CompileError(A2QError):
    """The model cannot be lowered to hardware layers."""


class HardwareError(A2QError):
    """Generation, simulation or synthesis of the accelerator failed."""


class ToolError(HardwareError):
    """An external tool (verilator, yosys) is missing or failed."""
