"""Attention layers: ``MultiheadAttention``, the Transformer encoder and decoder layers and stacks,
and ``Transformer``, as torch.nn (same submodule names, so state_dict keys match PyTorch's).

Masks follow PyTorch's MultiheadAttention convention, which is the opposite of
``scaled_dot_product_attention``'s: a boolean ``True`` in ``attn_mask`` or ``key_padding_mask``
means "may NOT attend". Both masks are merged into one additive float mask (``-inf`` where
masked) before the product, so either kind may be mixed with the other.
"""

import copy
import math

from .. import _core
from . import functional as F
from . import init
from .container import ModuleList
from .linear import Linear
from .norm import LayerNorm
from .sparse import Dropout
from .module import Module, Parameter


def _additive_mask(mask, dtype, name):
    """A float mask to add to the scores: bool ``True`` (masked) -> ``-inf``, float as is."""
    if mask is None:
        return None
    if mask.dtype == _core.bool:
        zeros = _core.zeros(*mask.shape, dtype=dtype, device=mask.device)
        return zeros.masked_fill(mask, float("-inf"))
    if not mask.is_floating_point():
        raise TypeError(f"only bool and floating types of {name} are supported, got {mask.dtype}")
    return mask.to(dtype)


class MultiheadAttention(Module):
    """Multi-head attention ``softmax(Q K^T / sqrt(d)) V`` over ``num_heads`` projections of the inputs.

    Parameters are PyTorch's: ``in_proj_weight`` ``[3E, E]`` (or ``q/k/v_proj_weight`` when
    ``kdim``/``vdim`` differ from ``embed_dim``), ``in_proj_bias`` ``[3E]``, ``out_proj`` (a Linear),
    and optionally ``bias_k``/``bias_v`` (``add_bias_kv``).
    """

    def __init__(self, embed_dim, num_heads, dropout=0.0, bias=True, add_bias_kv=False, add_zero_attn=False, kdim=None, vdim=None, batch_first=False, device=None, dtype=None):
        super().__init__()
        if embed_dim <= 0 or num_heads <= 0:
            raise ValueError(f"embed_dim and num_heads must be greater than 0, got embed_dim={embed_dim} and num_heads={num_heads} instead")
        if embed_dim % num_heads:
            raise AssertionError("embed_dim must be divisible by num_heads")
        self.embed_dim, self.num_heads, self.dropout, self.batch_first = embed_dim, num_heads, dropout, batch_first
        self.kdim = kdim if kdim is not None else embed_dim
        self.vdim = vdim if vdim is not None else embed_dim
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.head_dim = embed_dim // num_heads
        self.add_zero_attn = add_zero_attn
        kw = dict(dtype=dtype, device=device)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = Parameter(_core.empty(3 * embed_dim, embed_dim, **kw))
            self.register_parameter("q_proj_weight", None)
            self.register_parameter("k_proj_weight", None)
            self.register_parameter("v_proj_weight", None)
        else:
            self.q_proj_weight = Parameter(_core.empty(embed_dim, embed_dim, **kw))
            self.k_proj_weight = Parameter(_core.empty(embed_dim, self.kdim, **kw))
            self.v_proj_weight = Parameter(_core.empty(embed_dim, self.vdim, **kw))
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = Parameter(_core.empty(3 * embed_dim, **kw))
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, **kw)
        if add_bias_kv:
            self.bias_k = Parameter(_core.empty(1, 1, embed_dim, **kw))
            self.bias_v = Parameter(_core.empty(1, 1, embed_dim, **kw))
        else:
            self.bias_k = self.bias_v = None
        self._reset_parameters()

    def _reset_parameters(self):
        # As torch: xavier on the input projections, zero biases; out_proj keeps Linear's weight init.
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self.in_proj_weight)
        else:
            init.xavier_uniform_(self.q_proj_weight)
            init.xavier_uniform_(self.k_proj_weight)
            init.xavier_uniform_(self.v_proj_weight)
        if self.in_proj_bias is not None:
            init.constant_(self.in_proj_bias, 0.0)
            init.constant_(self.out_proj.bias, 0.0)
        if self.bias_k is not None:
            init.xavier_normal_(self.bias_k)
            init.xavier_normal_(self.bias_v)

    def _projections(self):
        e = self.embed_dim
        if self._qkv_same_embed_dim:
            wq, wk, wv = self.in_proj_weight[:e], self.in_proj_weight[e: 2 * e], self.in_proj_weight[2 * e:]
        else:
            wq, wk, wv = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        if self.in_proj_bias is None:
            return (wq, None), (wk, None), (wv, None)
        b = self.in_proj_bias
        return (wq, b[:e]), (wk, b[e: 2 * e]), (wv, b[2 * e:])

    def forward(self, query, key, value, key_padding_mask=None, need_weights=True, attn_mask=None, average_attn_weights=True, is_causal=False):
        """Returns ``(attn_output, attn_weights)``; weights are ``None`` unless ``need_weights``.

        Inputs are ``[L, N, E]`` (``[N, L, E]`` with ``batch_first``) or unbatched ``[L, E]``.
        ``attn_mask`` is ``[L, S]`` or ``[N * num_heads, L, S]``; ``key_padding_mask`` is ``[N, S]``.
        """
        unbatched = query.dim() == 2
        if unbatched:
            query, key, value = query.unsqueeze(1), key.unsqueeze(1), value.unsqueeze(1)
            if key_padding_mask is not None:
                key_padding_mask = key_padding_mask.unsqueeze(0)
        elif query.dim() != 3:
            raise AssertionError(f"query should be unbatched 2D or batched 3D tensor but received {query.dim()}-D query tensor")
        # Projections and heads stay in the input's own layout, [N, L, E] with batch_first and
        # [L, N, E] without, so that no transposed copy of the input or output is made: the
        # heads are strided views that the attention kernel reads as they are.
        bf = self.batch_first and not unbatched
        seq = 1 if bf else 0  # the sequence dim
        L, N, E = (query.shape[1], query.shape[0], query.shape[2]) if bf else tuple(query.shape)
        if E != self.embed_dim:
            raise AssertionError(f"was expecting embedding dimension of {self.embed_dim}, but got {E}")
        if key.shape[:2] != value.shape[:2]:
            raise AssertionError(f"key shape {tuple(key.shape)} does not match value shape {tuple(value.shape)}")
        (wq, bq), (wk, bk), (wv, bv) = self._projections()
        q, k, v = F.linear(query, wq, bq), F.linear(key, wk, bk), F.linear(value, wv, bv)

        if is_causal and attn_mask is None:
            raise RuntimeError("Need attn_mask if specifying the is_causal hint.")
        mask = _additive_mask(attn_mask, q.dtype, "attn_mask")
        if mask is not None:
            if mask.dim() == 2:
                if tuple(mask.shape) != (L, key.shape[seq]):
                    raise RuntimeError(f"The shape of the 2D attn_mask is {tuple(mask.shape)}, but should be {(L, key.shape[seq])}.")
                mask = mask.reshape(1, 1, L, key.shape[seq])
            elif mask.dim() == 3:
                if tuple(mask.shape) != (N * self.num_heads, L, key.shape[seq]):
                    raise RuntimeError(f"The shape of the 3D attn_mask is {tuple(mask.shape)}, but should be {(N * self.num_heads, L, key.shape[seq])}.")
                mask = mask.reshape(N, self.num_heads, L, key.shape[seq])
            else:
                raise RuntimeError(f"attn_mask's dimension {mask.dim()} is not supported")
        pad = _additive_mask(key_padding_mask, q.dtype, "key_padding_mask")

        one_step = (N, 1, E) if bf else (1, N, E)
        if self.bias_k is not None:
            k = _core.cat([k, self.bias_k.reshape(1, 1, E).expand(*one_step)], dim=seq)
            v = _core.cat([v, self.bias_v.reshape(1, 1, E).expand(*one_step)], dim=seq)
            mask = F.pad(mask, (0, 1)) if mask is not None else None
            pad = F.pad(pad, (0, 1)) if pad is not None else None
        if self.add_zero_attn:
            k = _core.cat([k, _core.zeros(*one_step, dtype=k.dtype, device=k.device)], dim=seq)
            v = _core.cat([v, _core.zeros(*one_step, dtype=v.dtype, device=v.device)], dim=seq)
            mask = F.pad(mask, (0, 1)) if mask is not None else None
            pad = F.pad(pad, (0, 1)) if pad is not None else None
        S = k.shape[seq]
        if pad is not None:
            if tuple(pad.shape) != (N, S):
                raise AssertionError(f"expecting key_padding_mask shape of {(N, S)}, but got {tuple(pad.shape)}")
            pad = pad.reshape(N, 1, 1, S)
            mask = pad if mask is None else mask + pad

        h, d = self.num_heads, self.head_dim
        # [N, L, E] or [L, N, E] -> [N, h, L, d] (views)
        if bf:
            q, k, v = (t.reshape(N, t.shape[1], h, d).permute(0, 2, 1, 3) for t in (q, k, v))
        else:
            q, k, v = (t.reshape(t.shape[0], N, h, d).permute(1, 2, 0, 3) for t in (q, k, v))
        p = self.dropout if self.training else 0.0
        if need_weights:
            # The weights are wanted, so the softmax is done here rather than inside the fused op.
            scores = q @ k.transpose(-2, -1) * (1.0 / math.sqrt(d))
            if mask is not None:
                scores = scores + mask
            weights = scores.softmax(-1)
            if p > 0:
                # As torch, the returned weights are the ones after dropout.
                weights = F.dropout(weights, p)
            out = weights @ v
        else:
            weights = None
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
        # [N, h, L, d] -> the input's layout
        out = out.permute(0, 2, 1, 3).reshape(N, L, E) if bf else out.permute(2, 0, 1, 3).reshape(L, N, E)
        out = self.out_proj(out)
        if unbatched:
            out = out.squeeze(1)
        if weights is not None:
            if average_attn_weights:
                weights = weights.mean(dim=1)
            if unbatched:
                weights = weights.squeeze(0)
        return out, weights


def _activation(activation):
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise RuntimeError(f"activation should be relu/gelu, not {activation}")


def _init_layer(layer, blocks, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias, device, dtype):
    """Builds the submodules of a transformer encoder (``blocks=2``: self-attention, feed-forward)
    or decoder layer (``blocks=3``: plus attention over memory), shared so the two stay alike.
    The attributes are set in torch's order, which fixes the state_dict key order and the order
    in which the parameters draw their random initial values."""
    kw = dict(device=device, dtype=dtype)
    layer.self_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
    if blocks == 3:
        layer.multihead_attn = MultiheadAttention(d_model, nhead, dropout=dropout, bias=bias, batch_first=batch_first, **kw)
    layer.linear1 = Linear(d_model, dim_feedforward, bias=bias, **kw)
    layer.dropout = Dropout(dropout)
    layer.linear2 = Linear(dim_feedforward, d_model, bias=bias, **kw)
    layer.norm_first = norm_first
    for i in range(1, blocks + 1):
        setattr(layer, f"norm{i}", LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw))
    for i in range(1, blocks + 1):
        setattr(layer, f"dropout{i}", Dropout(dropout))
    layer.activation = _activation(activation)


class TransformerEncoderLayer(Module):
    """Self-attention then a feed-forward block, each with a residual connection and LayerNorm.

    ``norm_first=False`` (the default, post-norm) is ``x = norm(x + block(x))``; ``norm_first=True``
    is ``x = x + block(norm(x))``.
    """

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        _init_layer(self, 2, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias, device, dtype)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout2(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, src, src_mask=None, src_key_padding_mask=None, is_causal=False):
        src_mask = _causal_mask_if_needed(src, src_mask, is_causal, self.self_attn.batch_first)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), src_mask, src_key_padding_mask)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, src_mask, src_key_padding_mask))
            x = self.norm2(x + self._ff_block(x))
        return x


class TransformerEncoder(Module):
    """A stack of ``num_layers`` independent copies of ``encoder_layer``, then an optional ``norm``."""

    def __init__(self, encoder_layer, num_layers, norm=None, enable_nested_tensor=True, mask_check=True):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(encoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, src, mask=None, src_key_padding_mask=None, is_causal=None):
        out = src
        for layer in self.layers:
            out = layer(out, src_mask=mask, src_key_padding_mask=src_key_padding_mask, is_causal=is_causal is True)
        if self.norm is not None:
            out = self.norm(out)
        return out


def _generate_square_subsequent_mask(sz, device=None, dtype=None):
    """``[sz, sz]`` float mask: ``-inf`` above the diagonal (future positions), ``0`` elsewhere."""
    kw = {"device": device} if device is not None else {}
    full = _core.full((sz, sz), float("-inf"), dtype=dtype if dtype is not None else _core.get_default_dtype(), **kw)
    return full.triu(1)


def _causal_mask_if_needed(x, mask, is_causal, batch_first):
    """``is_causal=True`` without a mask means the causal mask (PyTorch's MHA needs it given)."""
    if is_causal is True and mask is None:
        unbatched = x.dim() == 2
        sz = x.shape[0] if unbatched or not batch_first else x.shape[1]
        return _generate_square_subsequent_mask(sz, device=x.device, dtype=x.dtype)
    return mask


class TransformerDecoderLayer(Module):
    """Self-attention, attention over ``memory`` (the encoder's output), then a feed-forward block,
    each with a residual connection and LayerNorm (post-norm unless ``norm_first``), as torch."""

    __constants__ = ["norm_first"]

    def __init__(self, d_model, nhead, dim_feedforward=2048, dropout=0.1, activation="relu", layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        _init_layer(self, 3, d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias, device, dtype)

    def _mha_block(self, x, mem, attn_mask, key_padding_mask, is_causal=False):
        x = self.multihead_attn(x, mem, mem, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return self.dropout2(x)

    def _sa_block(self, x, attn_mask, key_padding_mask, is_causal=False):
        x = self.self_attn(x, x, x, attn_mask=attn_mask, key_padding_mask=key_padding_mask, need_weights=False)[0]
        return self.dropout1(x)

    def _ff_block(self, x):
        return self.dropout3(self.linear2(self.dropout(self.activation(self.linear1(x)))))

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=False, memory_is_causal=False):
        """``tgt`` ``[T, N, E]`` (``[N, T, E]`` with ``batch_first``), ``memory`` ``[S, N, E]``;
        ``tgt_mask`` ``[T, T]``, ``memory_mask`` ``[T, S]``, padding masks ``[N, T]`` / ``[N, S]``."""
        bf = self.self_attn.batch_first
        tgt_mask = _causal_mask_if_needed(tgt, tgt_mask, tgt_is_causal, bf)
        if memory_is_causal is True and memory_mask is None:
            t = tgt.shape[0] if tgt.dim() == 2 or not bf else tgt.shape[1]
            s = memory.shape[0] if memory.dim() == 2 or not bf else memory.shape[1]
            memory_mask = _core.full((t, s), float("-inf"), dtype=tgt.dtype, device=tgt.device).triu(1)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), tgt_mask, tgt_key_padding_mask, tgt_is_causal)
            x = x + self._mha_block(self.norm2(x), memory, memory_mask, memory_key_padding_mask, memory_is_causal)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, tgt_mask, tgt_key_padding_mask, tgt_is_causal))
            x = self.norm2(x + self._mha_block(x, memory, memory_mask, memory_key_padding_mask, memory_is_causal))
            x = self.norm3(x + self._ff_block(x))
        return x


class TransformerDecoder(Module):
    """A stack of ``num_layers`` independent copies of ``decoder_layer``, then an optional ``norm``."""

    def __init__(self, decoder_layer, num_layers, norm=None):
        super().__init__()
        self.layers = ModuleList([copy.deepcopy(decoder_layer) for _ in range(num_layers)])
        self.num_layers = num_layers
        self.norm = norm

    def forward(self, tgt, memory, tgt_mask=None, memory_mask=None, tgt_key_padding_mask=None, memory_key_padding_mask=None, tgt_is_causal=None, memory_is_causal=False):
        out = tgt
        for layer in self.layers:
            out = layer(out, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                        memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=bool(tgt_is_causal), memory_is_causal=memory_is_causal)
        if self.norm is not None:
            out = self.norm(out)
        return out


class Transformer(Module):
    """The encoder-decoder Transformer of "Attention Is All You Need", as ``torch.nn.Transformer``:
    ``encoder`` (a TransformerEncoder with a final LayerNorm) and ``decoder`` (likewise), or
    ``custom_encoder`` / ``custom_decoder``. Every parameter of more than one dimension is
    re-initialized with ``xavier_uniform_``."""

    def __init__(self, d_model=512, nhead=8, num_encoder_layers=6, num_decoder_layers=6, dim_feedforward=2048, dropout=0.1, activation="relu",
                 custom_encoder=None, custom_decoder=None, layer_norm_eps=1e-5, batch_first=False, norm_first=False, bias=True, device=None, dtype=None):
        super().__init__()
        kw = dict(device=device, dtype=dtype)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            encoder_layer = TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias, **kw)
            encoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            self.encoder = TransformerEncoder(encoder_layer, num_encoder_layers, encoder_norm)
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            decoder_layer = TransformerDecoderLayer(d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps, batch_first, norm_first, bias, **kw)
            decoder_norm = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, **kw)
            self.decoder = TransformerDecoder(decoder_layer, num_decoder_layers, decoder_norm)
        self._reset_parameters()
        self.d_model = d_model
        self.nhead = nhead
        self.batch_first = batch_first

    def forward(self, src, tgt, src_mask=None, tgt_mask=None, memory_mask=None, src_key_padding_mask=None, tgt_key_padding_mask=None,
                memory_key_padding_mask=None, src_is_causal=None, tgt_is_causal=None, memory_is_causal=False):
        is_batched = src.dim() == 3
        if is_batched and not self.batch_first and src.shape[1] != tgt.shape[1]:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if is_batched and self.batch_first and src.shape[0] != tgt.shape[0]:
            raise RuntimeError("the batch number of src and tgt must be equal")
        if src.shape[-1] != self.d_model or tgt.shape[-1] != self.d_model:
            raise RuntimeError("the feature number of src and tgt must be equal to d_model")
        memory = self.encoder(src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal)
        return self.decoder(tgt, memory, tgt_mask=tgt_mask, memory_mask=memory_mask, tgt_key_padding_mask=tgt_key_padding_mask,
                            memory_key_padding_mask=memory_key_padding_mask, tgt_is_causal=tgt_is_causal, memory_is_causal=memory_is_causal)

    @staticmethod
    def generate_square_subsequent_mask(sz, device=None, dtype=None):
        """``[sz, sz]`` float mask: ``-inf`` above the diagonal, ``0.0`` on and below it."""
        return _generate_square_subsequent_mask(sz, device=device, dtype=dtype)

    def _reset_parameters(self):
        for p in self.parameters():
            if p.dim() > 1:
                init.xavier_uniform_(p)
