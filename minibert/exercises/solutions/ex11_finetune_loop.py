"""Solution of exercise 11: the heart of minibert.train.Trainer.train_step, without the schedule."""

from minibert.optim import AdamW, clip_grad_norm


def fine_tune(model, batches, epochs=2, lr=1e-3, max_grad_norm=1.0):
    optimizer = AdamW(model.named_parameters(), lr=lr, weight_decay=0.01)  # one for the whole run
    model.train()
    losses = []
    for _ in range(epochs):
        for batch in batches:
            model.zero_grad()  # gradients accumulate: clear the last step's
            out = model(batch["input_ids"], attention_mask=batch["attention_mask"], labels=batch["labels"])
            model.backward()
            clip_grad_norm(model.parameters(), max_grad_norm)
            optimizer.step()
            losses.append(float(out.loss))
    model.eval()
    return losses
