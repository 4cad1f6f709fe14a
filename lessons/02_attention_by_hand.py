"""Lesson 2: one transformer layer, written out by hand.

What it teaches
    How BERT turns token ids into vectors and how ONE transformer layer (layer 0 of the
    default model, all-MiniLM-L6-v2) transforms them, computed step by step with plain
    NumPy right here in this file, using the model's own weights:

      1. embeddings: word + position + token type, then LayerNorm (by its formula)
      2. self-attention: Q/K/V projections, splitting into heads, scores q k^T / sqrt(HS),
         the padding mask, softmax, the weighted sum of values, merging the heads
      3. the attention output: projection, residual connection, LayerNorm
      4. the feed-forward block: H -> I, GELU (with an erf NumPy does not have), I -> H,
         residual connection, LayerNorm
      5. what one attention head looks at
      6. the proof: our numbers equal the model's hidden_states[1]

    Every intermediate array's shape is printed, in the letters of the shape legend:

      B   batch size (sentences)       T   tokens per sentence (after padding)
      H   hidden size (384)            NH  attention heads (12)
      HS  head size (H / NH = 32)      I   intermediate, feed-forward size (1536)

How to run it (from any folder; the default model is downloaded on first use)
    python lessons/02_attention_by_hand.py
"""

import math

from lesson_support import section  # first: it also makes minibert importable from this checkout

import numpy as np

from minibert.functional import erf
from minibert.model import BertModel
from minibert.pretrained import load_tokenizer

SENTENCES = ["The cat sat on the mat.", "Dogs bark at night."]
QUERY_SENTENCE = 0  # for step 5: which sentence ...
QUERY_TOKEN = "sat"  # ... which token asks the question ...
HEAD = 2  # ... and which of the 12 heads we look through
TOLERANCE = 1e-4  # the largest difference from the model we accept (float32 rounding is ~1e-6)


def show(name, array, dims, meaning):
    """Print one line: an array's name, its shape in legend letters and in numbers, what it is."""
    print(f"  {name:<14} {dims:<15} {str(tuple(array.shape)):<16} {meaning}")


def layer_norm(x, gamma, beta, eps):
    """LayerNorm over the last axis, by its formula:

        y = (x - mean) / sqrt(var + eps) * gamma + beta

    mean and var are taken over the H numbers of each token vector on its own (var divides
    by H, not H - 1). Every token vector comes out with mean 0 and variance 1, then gets
    the learned scale gamma and shift beta (both [H]).
    """
    mean = x.mean(axis=-1, keepdims=True)  # [..., 1]
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # [..., 1]
    return (x - mean) / np.sqrt(var + eps) * gamma + beta  # [..., H]


def main():
    # ------------------------------------------------------------------------------------
    section("0. The model, the tokenizer, the sentences")
    # device="cpu": this lesson works on NumPy arrays, even if MINIBERT_DEVICE says "cuda".
    model = BertModel.from_pretrained("minilm", device="cpu")
    tok = load_tokenizer("minilm")
    cfg = model.config
    H, NH, I = cfg.hidden_size, cfg.num_attention_heads, cfg.intermediate_size
    HS = H // NH
    print(f"all-MiniLM-L6-v2: {cfg.num_hidden_layers} layers, H = {H}, NH = {NH}, "
          f"HS = H / NH = {HS}, I = {I}, vocabulary V = {cfg.vocab_size}")
    print("Shape legend: B batch, T tokens, H hidden, NH heads, HS head size, I feed-forward size")

    batch = tok(SENTENCES)  # dict of int64 arrays [B, T]
    input_ids = batch["input_ids"]
    token_type_ids = batch["token_type_ids"]
    attention_mask = batch["attention_mask"]
    B, T = input_ids.shape
    print(f"\n{B} sentences, padded to the longest: T = {T} tokens each")
    for b in range(B):
        tokens = tok.convert_ids_to_tokens(input_ids[b])
        print(f"  sentence {b}: {' '.join(tokens)}")
        print(f"  {'':11} attention_mask {attention_mask[b].tolist()}  (0 = [PAD], to be ignored)")
    print()
    show("input_ids", input_ids, "[B, T]", "token ids: row numbers of the vocabulary")
    show("token_type_ids", token_type_ids, "[B, T]", "0 = first text, 1 = second (here all 0)")
    show("attention_mask", attention_mask, "[B, T]", "1 = real token, 0 = padding")

    # Every weight has a name, the same as in Hugging Face's checkpoints.
    params = {name: p.data for name, p in model.named_parameters()}
    prefix = "encoder.layer.0."  # layer 0 is the one we rebuild by hand
    print("\nThe weights of layer 0, by name (model.named_parameters()):")
    for name, array in params.items():
        if name.startswith(prefix):
            print(f"  {name:<52} {tuple(array.shape)}")
    layer0 = model.encoder.layer[0]  # the same arrays, reached through the modules:
    assert layer0.attention.self.query.weight.data is params[prefix + "attention.self.query.weight"]
    print("(model.encoder.layer[0].attention.self.query.weight.data is the very same array.)")
    print("Linear weights are stored [out, in], as in PyTorch: y = x W^T + b.")

    def w(name):
        """The array of one layer-0 weight, e.g. w('attention.self.query.weight')."""
        return params[prefix + name]

    # ------------------------------------------------------------------------------------
    section("1. Embeddings: word + position + token type, then LayerNorm")
    word = params["embeddings.word_embeddings.weight"][input_ids]  # [B, T, H]: row lookup
    position = params["embeddings.position_embeddings.weight"][np.arange(T)]  # [T, H]
    token_type = params["embeddings.token_type_embeddings.weight"][token_type_ids]  # [B, T, H]
    show("word", word, "[B, T, H]", "row input_ids[b, t] of the [V, H] word table")
    show("position", position, "[T, H]", "rows 0..T-1 of the [512, H] position table")
    show("token_type", token_type, "[B, T, H]", "row 0 or 1 of the [2, H] token type table")
    summed = word + position + token_type  # position [T, H] broadcasts over the B sentences
    show("summed", summed, "[B, T, H]", "added, not concatenated: still H per token")
    x = layer_norm(summed, params["embeddings.LayerNorm.weight"], params["embeddings.LayerNorm.bias"],
                   cfg.layer_norm_eps)
    show("x", x, "[B, T, H]", "LayerNorm(summed): the input of layer 0")
    print(f"\n  LayerNorm: y = (x - mean) / sqrt(var + eps) * gamma + beta, eps = {cfg.layer_norm_eps:g}")
    token = summed[0, 1]  # [H]: one token vector ("the")
    normalised = (token - token.mean()) / np.sqrt(token.var() + cfg.layer_norm_eps)
    print(f"  token 1 before: mean {token.mean():+.4f}, std {token.std():.4f};  "
          f"normalised: mean {normalised.mean():.0e}, std {normalised.std():.4f}")
    print("  then gamma [H] rescales and beta [H] shifts each of the H coordinates")
    print("  (dropout comes next in training; the model is in evaluation mode, so it does nothing)")

    # ------------------------------------------------------------------------------------
    section("2. Self-attention of layer 0, one step at a time")
    print("Projections q = x Wq^T + bq (and the same for k, v); each W is [H, H], stored [out, in]:")
    q = x @ w("attention.self.query.weight").T + w("attention.self.query.bias")  # [B, T, H]
    k = x @ w("attention.self.key.weight").T + w("attention.self.key.bias")  # [B, T, H]
    v = x @ w("attention.self.value.weight").T + w("attention.self.value.bias")  # [B, T, H]
    show("q", q, "[B, T, H]", "queries: what each token is looking for")
    show("k", k, "[B, T, H]", "keys: what each token can be found by")
    show("v", v, "[B, T, H]", "values: what each token passes on when found")

    print(f"\nSplit into NH = {NH} heads of HS = {HS}: reshape, then move the head axis forward:")

    def split_heads(a):
        """[B, T, H] -> [B, T, NH, HS] -> [B, NH, T, HS]: head n gets numbers n*HS .. (n+1)*HS - 1."""
        return a.reshape(B, T, NH, HS).transpose(0, 2, 1, 3)

    q_heads, k_heads, v_heads = split_heads(q), split_heads(k), split_heads(v)
    show("q reshaped", q.reshape(B, T, NH, HS), "[B, T, NH, HS]", "each token's H numbers cut into NH pieces")
    show("q_heads", q_heads, "[B, NH, T, HS]", "transposed: NH separate attentions")
    show("k_heads", k_heads, "[B, NH, T, HS]", "the same split for the keys")
    show("v_heads", v_heads, "[B, NH, T, HS]", "and for the values")

    print("\nScores: how well each query matches each key (a dot product), scaled by 1/sqrt(HS):")
    scores = q_heads @ k_heads.transpose(0, 1, 3, 2) / math.sqrt(HS)  # [B, NH, T, T]
    show("k^T", k_heads.transpose(0, 1, 3, 2), "[B, NH, HS, T]", "keys transposed for the matrix product")
    show("scores", scores, "[B, NH, T, T]", "scores[b, n, i, j]: query i against key j")
    print(f"  (divided by sqrt(HS) = {math.sqrt(HS):.3f}: dot products of HS numbers grow with HS,")
    print("   and without the scaling the softmax would put nearly all weight on one key)")

    print("\nThe padding mask: add a huge negative number to the scores of padded keys:")
    mask = attention_mask.astype(np.float32)  # [B, T]: 1.0 real, 0.0 padding
    mask_bias = (1.0 - mask)[:, None, None, :] * np.finfo(np.float32).min  # [B, 1, 1, T]
    show("mask_bias", mask_bias, "[B, 1, 1, T]", "0 for real keys, -3.4e38 (float32's min) for [PAD]")
    masked_scores = scores + mask_bias  # [B, NH, T, T]
    show("masked_scores", masked_scores, "[B, NH, T, T]", "bias broadcast over heads and queries")
    print("  (Google's original code adds -10000 instead; after the softmax both give 0.)")

    print("\nSoftmax over the keys (last axis), computed stably as exp(s - max) / sum:")
    e = np.exp(masked_scores - masked_scores.max(axis=-1, keepdims=True))  # [B, NH, T, T]
    probs = e / e.sum(axis=-1, keepdims=True)  # [B, NH, T, T]
    show("probs", probs, "[B, NH, T, T]", "attention weights: each query's row sums to 1")
    print(f"  every row sums to 1: max |sum - 1| = {np.abs(probs.sum(axis=-1) - 1).max():.1e}")
    padded_key = (attention_mask == 0)[:, None, None, :]  # [B, 1, 1, T]: True for [PAD] keys
    print(f"  largest weight any query gives a [PAD] key: {np.where(padded_key, probs, 0.0).max():g}")

    print("\nWeighted sum of the values, then merge the heads back:")
    context_heads = probs @ v_heads  # [B, NH, T, T] @ [B, NH, T, HS] -> [B, NH, T, HS]
    show("context_heads", context_heads, "[B, NH, T, HS]", "each query's weighted mix of the values")
    context = context_heads.transpose(0, 2, 1, 3).reshape(B, T, H)  # [B, T, NH, HS] -> [B, T, H]
    show("context", context, "[B, T, H]", "heads side by side: transpose, then reshape")

    # ------------------------------------------------------------------------------------
    section("3. Attention output: projection, residual connection, LayerNorm")
    projected = context @ w("attention.output.dense.weight").T + w("attention.output.dense.bias")
    show("projected", projected, "[B, T, H]", "context Wo^T + bo: mixes what the heads found")
    attn_out = layer_norm(projected + x, w("attention.output.LayerNorm.weight"),
                          w("attention.output.LayerNorm.bias"), cfg.layer_norm_eps)
    show("attn_out", attn_out, "[B, T, H]", "LayerNorm(projected + x); + x is the residual")

    # ------------------------------------------------------------------------------------
    section("4. Feed-forward block: H -> I, GELU, I -> H, residual connection, LayerNorm")
    h = attn_out @ w("intermediate.dense.weight").T + w("intermediate.dense.bias")
    show("h", h, "[B, T, I]", f"widened to I = {I} (4 x H); each token on its own")
    print(f"\n  GELU (config hidden_act = {cfg.hidden_act!r}, the exact form):"
          " gelu(h) = 0.5 h (1 + erf(h / sqrt 2))")
    print("  NumPy has no erf: math.erf takes one Python float at a time (far too slow for")
    print("  arrays) and scipy.special.erf would add SciPy just for this. So minibert writes")
    print("  its own, vectorised: minibert.functional.erf, a Chebyshev fit: within 2e-15 of the")
    print("  true erf in float64 (the samples below are float64), within 3e-7 in float32 (float32's")
    print("  own resolution near 1), which is what this float32 model's h gets.")
    samples = np.array([-2.0, -0.5, 0.0, 0.5, 2.0])
    ours = erf(samples)
    print("  " + "   ".join(f"erf({s:+.1f}) = {o:+.6f}" for s, o in zip(samples[:3], ours[:3])))
    print("  " + "   ".join(f"erf({s:+.1f}) = {o:+.6f}" for s, o in zip(samples[3:], ours[3:])))
    print(f"  largest difference from math.erf on these: "
          f"{max(abs(o - math.erf(s)) for s, o in zip(samples, ours)):.1e}")
    gelu = 0.5 * h * (1.0 + erf(h / math.sqrt(2.0)))  # [B, T, I]
    show("gelu", gelu, "[B, T, I]", "h * P(N(0,1) < h): large negatives squashed to ~0 (min -0.17 at h = -0.75)")
    down = gelu @ w("output.dense.weight").T + w("output.dense.bias")
    show("down", down, "[B, T, H]", "back to H (output.dense.weight is [H, I])")
    layer_out = layer_norm(down + attn_out, w("output.LayerNorm.weight"), w("output.LayerNorm.bias"),
                           cfg.layer_norm_eps)
    show("layer_out", layer_out, "[B, T, H]", "LayerNorm(down + attn_out): layer 0's output")
    print(f"\n  Same shape in as out, [B, T, H]: that is why {cfg.num_hidden_layers} layers can be stacked.")

    # ------------------------------------------------------------------------------------
    section(f"5. What head {HEAD} of layer 0 looks at")
    tokens = tok.convert_ids_to_tokens(input_ids[QUERY_SENTENCE])
    query = tokens.index(QUERY_TOKEN)
    row = probs[QUERY_SENTENCE, HEAD, query]  # [T]: this query's weights over the keys
    print(f"Sentence {QUERY_SENTENCE}, query token {query} {QUERY_TOKEN!r}, head {HEAD}: "
          f"its top 5 keys (probs[{QUERY_SENTENCE}, {HEAD}, {query}, :]):")
    for j in np.argsort(-row)[:5]:
        bar = "#" * int(round(40 * row[j]))  # a bar 40 characters long for weight 1
        print(f"  key {j} {tokens[j]!r:<9} {row[j]:.3f}  {bar}".rstrip())
    real = int(attention_mask[QUERY_SENTENCE].sum())
    previous = sum(int(probs[QUERY_SENTENCE, HEAD, i].argmax() == i - 1) for i in range(1, real))
    print(f"For {previous} of the {real - 1} tokens after [CLS], head {HEAD}'s favourite key is the "
          "token just before it.")
    if previous == real - 1:
        print("A 'previous token' head: it copies the word before into each position.")
    print(f"\nThe favourite key of query {QUERY_TOKEN!r} in each of the {NH} heads:")
    on_special = 0
    for n in range(NH):
        j = int(probs[QUERY_SENTENCE, n, query].argmax())
        print(f"  head {n:2d}: {tokens[j]!r:<9} {probs[QUERY_SENTENCE, n, query, j]:.2f}")
        on_special += tokens[j] in ("[CLS]", "[SEP]")
    print(f"{on_special} of {NH} heads put the most weight on [CLS] or [SEP]: a known habit of BERT,")
    print("its way of 'looking at nothing in particular' (Clark et al. 2019, What Does BERT Look At?).")

    # ------------------------------------------------------------------------------------
    section("6. Check: our layer 0 against the model's")
    out = model(input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids,
                output_hidden_states=True, output_attentions=True)
    emb_diff = float(np.abs(x - out.hidden_states[0]).max())
    probs_diff = float(np.abs(probs - out.attentions[0]).max())
    diff = float(np.abs(layer_out - out.hidden_states[1]).max())
    print(f"  embeddings   vs out.hidden_states[0]:  max abs difference {emb_diff:.2e}")
    print(f"  attention    vs out.attentions[0]:     max abs difference {probs_diff:.2e}")
    print(f"  layer output vs out.hidden_states[1]:  max abs difference {diff:.2e}")
    print(f"  (the arrays are {layer_out.dtype}, which keeps about 7 significant digits: differences")
    print("   of ~1e-6 are rounding, from doing the same sums in a slightly different order)")
    if not diff <= TOLERANCE:
        print(f"FAILED: the hand-computed layer differs from the model by {diff:.2e} > {TOLERANCE:g}")
        raise SystemExit(1)
    print(f"OK: the hand-written layer matches the model (tolerance {TOLERANCE:g}).")
    print(f"The other {cfg.num_hidden_layers - 1} layers repeat exactly these steps with their own weights.")


if __name__ == "__main__":
    main()
