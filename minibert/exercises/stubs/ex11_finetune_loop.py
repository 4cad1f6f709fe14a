"""Exercise 11: a minimal fine-tuning loop.

Statement: lessons/exercises/ex11_finetune_loop.md (lessons 6 and 8 first).
Check your work:  minibert grade ex11_finetune_loop.py
"""

from minibert.optim import AdamW, clip_grad_norm  # noqa: F401  (the library's; exercise 9 wrote one step of it)


def fine_tune(model, batches, epochs=2, lr=1e-3, max_grad_norm=1.0):
    """Fine-tune a BertForSequenceClassification: every batch, in order, ``epochs`` times.

        optimizer = AdamW(model.named_parameters(), lr=lr, weight_decay=0.01)   ONE, for the whole run
        for each epoch, for each batch:
            model.zero_grad()                   gradients accumulate (+=): clear the last step's
            out = model(batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
            model.backward()                    every parameter's .grad, from out.loss
            clip_grad_norm(model.parameters(), max_grad_norm)
            optimizer.step()
            remember float(out.loss)

    (No learning-rate schedule and no evaluation here: minibert.train.Trainer adds both.)

    Args:
        model: a minibert.model.BertForSequenceClassification (changed in place).
        batches: a list of dicts with "input_ids", "attention_mask" ([B, T] ints) and "labels" ([B] ints).
        epochs, lr, max_grad_norm: as above.

    Returns:
        The loss of every step, a list of floats (epochs * len(batches) of them).

    Cache: the model keeps its own (forward, then backward); AdamW keeps m and v.

    Example:
        >>> losses = fine_tune(model, batches, epochs=2)  # doctest: +SKIP
        >>> len(losses)  # 3 batches, 2 epochs  # doctest: +SKIP
        6
    """
    raise NotImplementedError("write fine_tune")
