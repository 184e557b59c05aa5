"""The input of an SSL back-end: one hidden layer, or a learnt weighted sum of all of them."""

from torch import nn

from wedefense.models.mhfa import LayerWeightedSum, _check_ssl_input


class SSLLayerInput(nn.Module):
    """``hidden (B, L, T, D)`` -> ``(B, T, D)``.

    Args:
        name: the back-end's registry name (for error messages).
        num_layers: hidden layers the front-end gives.
        layer: ``None`` for a learnt softmax-weighted sum of all layers, or one layer's index
            (``-1``: the last).
    """

    def __init__(self, name, num_layers, layer=None):
        super().__init__()
        _check_ssl_input(name, num_layers)
        if layer is not None and not -num_layers <= layer < num_layers:
            raise ValueError(f"{name}: layer {layer} out of range for {num_layers} hidden layers")
        self.layer = layer
        self.weighted_sum = LayerWeightedSum(num_layers) if layer is None else None

    def forward(self, hidden):
        if self.weighted_sum is not None:
            return self.weighted_sum(hidden)
        return hidden[:, self.layer]
