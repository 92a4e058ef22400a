"""CPU fast paths: the same mathematics as the reference layers, computed faster on a CPU.

* :mod:`capslib.kernels.fused_conv`: a convolution as one matrix multiply with a hand-written backward;
* :mod:`capslib.kernels.fused_routing`: DigitCaps and its routing as one autograd function.

The reference layers (:mod:`capslib.nn`, :mod:`capslib.models`) read like the paper; each chooses a
kernel in one visible place (``use_fast_path``) and gives the same values and gradients (tested in float64).
"""
