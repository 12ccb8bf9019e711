"""What CPU this is: its model name and the int8/bf16 instruction sets it has (from /proc/cpuinfo).

The optimized-model cache keys its entries on it (a saved graph holds CPU-specific kernels), and
the exporter's benchmark records it: the same "Intel(R) Xeon(R) Processor" name covers CPUs with
and without AMX, and int8/bf16 figures depend on exactly these instruction sets.

Example::

    python -c "from workbench.cpu import cpu_info; print(cpu_info())"
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

__all__ = ["CPU_FEATURES", "INT8_DOT_FEATURES", "cpu_info", "int8_saturates"]

# Instruction sets the int8 and bf16 kernels of ONNX Runtime, OpenVINO and PyTorch use, as /proc/cpuinfo spells them.
CPU_FEATURES = ("avx2", "avx_vnni", "avx512f", "avx512_vnni", "avx512_bf16", "avx512_fp16", "amx_int8", "amx_bf16")
#: Instructions that sum u8 x s8 products straight into int32. Without them (AVX2 only) ONNX Runtime's and
#: OpenVINO's int8 kernels use vpmaddubsw, whose int16 sums of product pairs saturate (docs/performance.md).
INT8_DOT_FEATURES = ("avx512_vnni", "avx_vnni", "amx_int8")


@functools.cache
def cpu_info() -> tuple[str, tuple[str, ...]]:
    """The CPU's model name and which of :data:`CPU_FEATURES` it has (Linux; elsewhere no features)."""
    fields: dict[str, str] = {}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            fields.setdefault(key.strip(), value.strip())  # the first core's values
    except OSError:
        pass  # not Linux: platform.processor() and no feature list
    flags = set(fields.get("flags", "").split())
    name = fields.get("model name") or platform.processor() or platform.machine()
    return name, tuple(feature for feature in CPU_FEATURES if feature in flags)


def int8_saturates(features: tuple[str, ...] | None = None) -> bool:
    """Whether int8 convolutions on this CPU (or one with ``features``) saturate: AVX2 without VNNI or AMX.

    False when the features are unknown (not Linux): no guess either way.
    """
    have = cpu_info()[1] if features is None else features
    return "avx2" in have and not any(feature in have for feature in INT8_DOT_FEATURES)
