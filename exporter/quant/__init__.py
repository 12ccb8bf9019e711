"""The int8 and fp16 lowering of a verified fp32 ONNX file, one module per step, in the order they run.

int8 (:func:`exporter.quant.lower.lower` drives it, called by ``export --precision int8``):

1. :mod:`~exporter.quant.rewrites`: exact fp32 rewrites so the whole network can stay in int8.
2. :mod:`~exporter.quant.calibration`: the calibration images, through the model's own preprocessing.
3. :mod:`~exporter.quant.qdq`: ORT's pre-processing pass and ``quantize_static`` (QDQ, per-channel);
   :mod:`~exporter.quant.bias` corrects the biases, :mod:`~exporter.quant.keep_float` keeps the
   fp32 fallbacks float.
4. :mod:`~exporter.quant.fallback`: layers whose quantization costs accuracy stay fp32.
5. :mod:`~exporter.quant.measure`: agreement and SQNR against fp32, which decides what is kept.

fp16: :mod:`~exporter.quant.fp16`. Shared by all: :mod:`~exporter.quant.workspace` (progress
callback, quiet tools, scratch folder).

Example::

    python -m exporter export --default --precision int8
"""
