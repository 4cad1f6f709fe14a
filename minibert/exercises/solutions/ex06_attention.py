"""Solution of exercise 6: minibert.functional.scaled_dot_product_attention with attention_mask_bias."""

from minibert import functional as F


def attention(q, k, v, attention_mask):
    bias = F.attention_mask_bias(attention_mask, q.dtype)  # [B, 1, 1, T]
    context, probs, _ = F.scaled_dot_product_attention(q, k, v, bias)
    return context, probs
