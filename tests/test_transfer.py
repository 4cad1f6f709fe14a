"""The transfer strategies, the comparison runner and reading a user's data file.

These run the real default model on small slices of the movie reviews (tens of texts),
so they check the plumbing and the bookkeeping; the accuracy figures themselves come
from the full run documented in the README.
"""

import json

import numpy as np
import pytest

from minibert.compare import markdown_tables, run_comparison
from minibert.data import read_labelled_file, split_dataset, split_of
from minibert.errors import DataError, DeviceError
from minibert.model import BertModel
from minibert.transfer import (Splits, feature_extraction, fine_tune, load_splits, random_init, splits_from_file,
                               subsample, truncate)


@pytest.fixture(scope="module")
def tiny_splits():
    s = load_splits()
    return Splits(subsample(s.train, 48, seed=1), truncate(s.dev, 24), truncate(s.test, 24))


def test_subsample_is_reproducible_and_a_subset():
    s = load_splits()
    a, b = subsample(s.train, 100, seed=3), subsample(s.train, 100, seed=3)
    assert a.texts == b.texts and len(a) == 100
    assert set(a.texts) <= set(s.train.texts)
    assert subsample(s.train, 100, seed=4).texts != a.texts
    assert subsample(s.train, None).texts == s.train.texts


def test_feature_extraction_caches_its_features(tiny_splits, tmp_path):
    first = feature_extraction(tiny_splits, epochs=3, progress=False, cache_folder=tmp_path)
    files = sorted(tmp_path.glob("*.npy"))
    assert len(files) == 3  # train, dev, test
    assert first.trainable_params == 384 * 2 + 2  # only the head trains
    assert 0 <= first.test_accuracy <= 1 and first.wall_s > 0 and first.peak_mem_mb > 0
    assert first.history["features_computed"] and first.tokens_per_s > 0
    second = feature_extraction(tiny_splits, epochs=3, progress=False, cache_folder=tmp_path)
    assert second.test_accuracy == first.test_accuracy  # same features, same seed: same head
    assert second.history["extract_seconds"] < first.history["extract_seconds"]
    assert not second.history["features_computed"] and second.tokens_per_s is None  # no encoder pass to time
    files[0].unlink()  # one split's features gone: the encoder runs again, for that split
    third = feature_extraction(tiny_splits, epochs=3, progress=False, cache_folder=tmp_path)
    assert third.history["features_computed"] and third.tokens_per_s > 0
    assert third.test_accuracy == first.test_accuracy
    pooled = feature_extraction(tiny_splits, pooling="mean_last4", head="mlp", epochs=2, progress=False,
                                cache_folder=tmp_path)
    assert pooled.trainable_params == 4 * 384 * 256 + 256 + 256 * 2 + 2


def test_fine_tune_and_partial_fine_tune(tiny_splits):
    full = fine_tune(tiny_splits, epochs=1, lr=1e-4, progress=False)
    assert full.trainable_params == 22_713_986  # every parameter, with a 2-class head
    assert full.history["epochs"][0]["dev_accuracy"] == full.dev_accuracy
    partial = fine_tune(tiny_splits, epochs=1, lr=1e-4, progress=False, freeze_layers=4)
    assert partial.strategy == "partial_fine_tune"
    per_layer = (22_713_216 - 11_918_592 - 147_840) // 6  # (all - embeddings - pooler) / layers
    assert partial.trainable_params == 22_713_986 - 11_918_592 - 4 * per_layer


def test_random_init_starts_from_random_weights(tiny_splits, monkeypatch):
    """The model random_init trains is the pretrained architecture with fresh weights
    (N(0, 0.02), LayerNorm 1 and 0, biases 0), not the pretrained weights."""
    import minibert.transfer as transfer

    built = {}

    def capture(name, build_model, *args, **kwargs):
        built["model"] = build_model()
        raise RuntimeError("stop: only the model was wanted")

    monkeypatch.setattr(transfer, "_train_classifier", capture)
    with pytest.raises(RuntimeError, match="only the model"):
        random_init(tiny_splits, epochs=1, progress=False)
    params = {n: p.data for n, p in built["model"].named_parameters()}
    pretrained = BertModel.from_pretrained().state_dict()
    words = params["bert.embeddings.word_embeddings.weight"]
    assert abs(words.std() - 0.02) < 0.001
    assert not np.allclose(words, pretrained["embeddings.word_embeddings.weight"])
    assert np.all(params["bert.encoder.layer.0.output.LayerNorm.weight"] == 1)
    assert np.all(params["bert.encoder.layer.0.attention.self.query.bias"] == 0)


def test_random_init_trains_the_whole_architecture(tiny_splits):
    r = random_init(tiny_splits, epochs=1, progress=False)
    assert r.strategy == "random_init" and r.trainable_params == 22_713_986
    assert r.settings["lr"] == 1e-4


@pytest.mark.parametrize("strategy", [fine_tune, feature_extraction, random_init])
def test_every_strategy_follows_minibert_device(tiny_splits, monkeypatch, tmp_path, strategy):
    """device=None means MINIBERT_DEVICE for all three (random init used to stay on the CPU)."""
    monkeypatch.setenv("MINIBERT_DEVICE", "tpu")  # not a device: a strategy that reads the variable says so
    kwargs = {"cache_folder": tmp_path} if strategy is feature_extraction else {}
    with pytest.raises(DeviceError, match="MINIBERT_DEVICE"):
        strategy(tiny_splits, epochs=1, progress=False, **kwargs)


def test_compare_writes_results_tables_and_plots(tmp_path):
    overrides = {"train_size": 40, "eval_size": 24, "min_steps": 1, "head_min_steps": 3,
                 "fine_tune": {"epochs": 1}, "random_init": {"epochs": 1}, "feature_extraction": {"epochs": 2}}
    results = run_comparison(tmp_path, quick=True, sizes=[16], progress=False, overrides=overrides)
    saved = json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))
    assert set(saved["strategies"]) == {"fine_tune", "feature_extraction", "random_init"}
    for r in saved["strategies"].values():
        for key in ("dev_accuracy", "test_accuracy", "test_macro_f1", "trainable_params", "wall_s", "peak_mem_mb"):
            assert key in r
    assert set(saved["data_efficiency"]["fine_tune"]) == {"16", "40"}
    # data-efficiency runs train for max(epochs, the steps' minimum): the head's own minimum
    de_runs = [r for r in saved["runs"].values() if r["train_size"] == 16]
    assert {r["strategy"]: r["settings"]["epochs"] for r in de_runs} == {
        "fine_tune": 1, "random_init": 1, "feature_extraction": 3}  # 16 examples: 1 step an epoch
    table = (tmp_path / "results.md").read_text(encoding="utf-8")
    assert "| fine-tune |" in table and "| random init |" in table and "training examples" in table
    features = dict(saved["strategies"]["feature_extraction"], tokens_per_s=None)  # as from the cache
    assert "| cached |" in markdown_tables(dict(saved, strategies={"feature_extraction": features}))
    for name in ("learning_curves.png", "comparison.png", "data_efficiency.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the plots are named relative to results.json, so the folder can be moved or committed
    assert json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))["figures"] == {
        "learning_curves": "learning_curves.png", "comparison": "comparison.png", "data_efficiency": "data_efficiency.png"}
    # a second run reuses every result it already has
    again = run_comparison(tmp_path, quick=True, sizes=[16], progress=False, overrides=overrides)
    assert again["strategies"] == results["strategies"]
    assert again["total_wall_s"] < results["total_wall_s"] / 2


def test_compare_reuses_a_run_only_with_the_same_settings_and_device(tmp_path, monkeypatch):
    """resume=True reuses a finished run only when nothing that changes its result or its
    timings differs: another batch size, or another device, runs it again."""
    import minibert.compare as compare
    from minibert.transfer import StrategyResult

    calls = []

    def fake_run(strategy, splits, settings, weights, progress, device, epochs=None, refresh_cache=False):
        calls.append((strategy, device))
        return StrategyResult(strategy, 0.5, 0.4, 0.5, 0.4, 10, 1.0, 1.0, 100.0, len(splits.train),
                              history={"epochs": [{"epoch": 1, "dev_accuracy": 0.5, "train_loss": 0.7}]})

    monkeypatch.setattr(compare, "run_strategy", fake_run)
    small = {"train_size": 40, "eval_size": 24}
    run = dict(quick=True, progress=False, data_efficiency=False)
    compare.run_comparison(tmp_path, overrides=small, **run)
    assert len(calls) == 3
    compare.run_comparison(tmp_path, overrides=small, **run)
    assert len(calls) == 3  # all three reused
    compare.run_comparison(tmp_path, overrides={**small, "batch_size": 16}, **run)
    assert len(calls) == 6  # another batch size: run again
    saved = compare.run_comparison(tmp_path, overrides={**small, "batch_size": 16}, device="cuda", **run)
    assert len(calls) == 9 and calls[-1][1] == "cuda"  # another device: run again (timings differ)
    assert saved["machine"]["device"] == "cuda"


def test_unknown_override_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="unknown setting 'epochs'"):
        run_comparison(tmp_path, overrides={"epochs": 3})


# ---- a user's own data file ---------------------------------------------------------------
def write(path, text, encoding="utf-8"):
    path.write_bytes(text.encode(encoding))
    return path


def test_csv_tsv_and_jsonl(tmp_path):
    csv_file = write(tmp_path / "d.csv", '\ufefftext,label\n"Great, really",pos\nAwful,neg\nFine,pos\n')
    data = read_labelled_file(csv_file)
    assert data.texts == ["Great, really", "Awful", "Fine"] and data.label_names == ["neg", "pos"]
    assert data.labels == [1, 0, 1]
    tsv = read_labelled_file(write(tmp_path / "d.tsv", "review\tstars\nok\t3\nbad\t1\n"), "review", "stars")
    assert tsv.label_names == ["1", "3"] and tsv.labels == [1, 0]
    jl = read_labelled_file(write(tmp_path / "d.jsonl", '{"text": "a", "label": 1}\n\n{"text": "b", "label": 0}\n'))
    assert jl.texts == ["a", "b"] and jl.labels == [1, 0]


@pytest.mark.parametrize("content, suffix, message", [
    ("text,label\nok,pos\n,neg\n", ".csv", r"line 3: the text is empty"),
    ("text,label\nok,pos\nfine,\n", ".csv", r"line 3: the label is empty"),
    ("words,label\nok,pos\n", ".csv", r"no column 'text'"),
    ("text,label\nok,pos\nfine,pos\n", ".csv", r"at least two labels"),
    ('{"text": "a", "label": 1}\n{"text": "b"\n', ".jsonl", r"line 2: not valid JSON"),
    ('{"text": "a", "label": 1}\n{"label": 0}\n', ".jsonl", r"line 2: no value for column 'text'"),
    ("text,label\n", ".xlsx", r"unknown data format"),
])
def test_bad_data_files_name_the_line(tmp_path, content, suffix, message):
    with pytest.raises(DataError, match=message):
        read_labelled_file(write(tmp_path / f"d{suffix}", content))


def test_non_utf8_and_missing_files(tmp_path):
    with pytest.raises(DataError, match="not UTF-8"):
        read_labelled_file(write(tmp_path / "d.csv", "text,label\ncaf\u00e9,pos\nbad,neg\n", "latin-1"))
    with pytest.raises(DataError, match="not found"):
        read_labelled_file(tmp_path / "missing.csv")


def test_splits_from_file_follow_the_sha1_rule(tmp_path):
    rows = "".join(f"review number {i},{'pos' if i % 3 else 'neg'}\n" for i in range(200))
    splits = splits_from_file(write(tmp_path / "d.csv", "text,label\n" + rows))
    for name in ("train", "dev", "test"):
        assert all(split_of(t) == name for t in getattr(splits, name).texts)
    assert len(splits.train) + len(splits.dev) + len(splits.test) == 200
    with pytest.raises(DataError, match="split is empty"):
        splits_from_file(write(tmp_path / "small.csv", "text,label\na,x\nb,y\n"))


# ---- the layer probe -------------------------------------------------------------------------
def test_embed_texts_batches_by_token_count_and_keeps_the_order():
    """embed_texts sorts by token count to pad little; the vectors must still come back in
    the texts' own order, each the same as the text embedded alone (padding changes nothing)."""
    from minibert.features import embed_texts
    from minibert.model import BertModel
    from minibert.pretrained import load_tokenizer

    model, tok = BertModel.from_pretrained(), load_tokenizer()
    # long in characters but few tokens, and short in characters but many tokens
    texts = ["Unbelievable!", "a b c d e f g h i j k l m n o p", "good", "Bad. Bad. Bad.",
             "It is, by far, the best film of the year.", "meh"]
    assert [len(tok.encode(t)) for t in texts] != sorted(len(tok.encode(t)) for t in texts)
    together = embed_texts(model, tok, texts, batch_size=4, max_length=64)
    alone = np.concatenate([embed_texts(model, tok, [t], batch_size=1, max_length=64) for t in texts])
    np.testing.assert_allclose(together, alone, rtol=0, atol=2e-6)


def test_layer_probe_scores_every_layer_and_writes_its_plot(tiny_splits, tmp_path):
    from minibert.features import cached_features, embed_texts
    from minibert.model import BertModel
    from minibert.pretrained import load_tokenizer
    from minibert.probe import run_probe, write_probe

    results = run_probe(tiny_splits, epochs=3, progress=False, cache_folder=tmp_path / "cache")
    assert [r["name"] for r in results["layers"]] == ["embeddings"] + [f"layer {i}" for i in range(1, 7)]
    for row in results["layers"]:
        assert 0 <= row["dev_accuracy"] <= 1 and 0 <= row["test_accuracy"] <= 1
    # the probe's slices are each layer's mean-pooled features: the last is the "mean" pooling,
    # the first the mean of the embeddings' output
    model, tok = BertModel.from_pretrained(), load_tokenizer()
    every = cached_features(model, tok, tiny_splits.dev.texts, "mean_layers", 64, folder=tmp_path / "cache")
    assert every.shape == (24, 7 * 384)
    np.testing.assert_allclose(every[:, -384:], embed_texts(model, tok, tiny_splits.dev.texts, "mean", max_length=64),
                               rtol=0, atol=1e-6)
    batch = tok(tiny_splits.dev.texts[:3], max_length=64)
    emb = model(batch["input_ids"], attention_mask=batch["attention_mask"], output_hidden_states=True).hidden_states[0]
    mask = batch["attention_mask"][:, :, None]
    np.testing.assert_allclose(every[:3, :384], (emb * mask).sum(1) / mask.sum(1), rtol=0, atol=1e-6)
    paths = write_probe(results, tmp_path / "out")
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "| layer 6 |" in paths["table"].read_text(encoding="utf-8")
    assert json.loads(paths["json"].read_text(encoding="utf-8"))["layers"] == results["layers"]


def test_probe_command_on_a_data_file(tmp_path, capsys):
    from minibert.cli import main

    rows = "".join(f"review number {i} was {'good' if i % 2 else 'bad'},{'pos' if i % 2 else 'neg'}\n"
                   for i in range(60))
    path = tmp_path / "d.csv"
    path.write_text("text,label\n" + rows, encoding="utf-8")
    assert main(["probe", "--data", str(path), "--epochs", "2", "--out", str(tmp_path / "probe")]) == 0
    out = capsys.readouterr().out
    assert "| embeddings |" in out and "best layer on dev:" in out
    assert (tmp_path / "probe" / "probe.png").is_file()


def test_data_efficiency_runs_get_enough_steps():
    from minibert.compare import FULL, _epochs_for

    # 100 examples in batches of 32: 4 steps an epoch; the trained models get 150 steps, the
    # features' head 1000 (its 20 epochs would be only 80 steps)
    assert _epochs_for(100, FULL["fine_tune"]["epochs"], 32, FULL["min_steps"]) == 38
    assert _epochs_for(100, FULL["feature_extraction"]["epochs"], 32, FULL["head_min_steps"]) == 250
    assert _epochs_for(10_209, FULL["feature_extraction"]["epochs"], 32, FULL["head_min_steps"]) == 20


def test_small_n_study_plans_resumes_and_summarises(tmp_path, monkeypatch, capsys):
    """tools/small_n_study.py's bookkeeping (the training itself is compare's, tested above):
    which runs it plans, that a second invocation reruns nothing, and its summary table."""
    import importlib.util
    from pathlib import Path

    script = Path(__file__).resolve().parents[1] / "tools" / "small_n_study.py"
    spec = importlib.util.spec_from_file_location("small_n_study", script)
    study = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(study)
    calls = []

    def scripted_run(splits, n, subset_seed, train_seed, strategy):  # scores that depend on the subset only
        calls.append((strategy, subset_seed, train_seed))
        acc = 0.60 + 0.02 * subset_seed if strategy == "fine_tune" else 0.63
        return {"strategy": strategy, "n": n, "subset_seed": subset_seed, "train_seed": train_seed,
                "test_accuracy": acc, "dev_accuracy": acc, "wall_s": 1.0}

    monkeypatch.setattr(study, "run_point", scripted_run)
    monkeypatch.setattr(study, "load_splits", lambda: None)
    argv = ["--n", "100", "--subsets", "0,1,2", "--train-seeds", "0,1", "--out", str(tmp_path)]
    assert study.main(argv) == 0
    assert sorted(calls) == sorted((s, sub, t) for s in study.STRATEGIES
                                   for sub, t in [(0, 0), (1, 0), (2, 0), (0, 1)])
    assert study.main(argv) == 0 and len(calls) == 8  # resumed: nothing ran twice
    table = (tmp_path / "small_n.md").read_text()
    assert "| fine_tune | 60.0 | 60.0 | 62.0 | 64.0 | 61.5 | 60.0-64.0 |" in table
    assert "| feature_extraction | 63.0 | 63.0 | 63.0 | 63.0 | 63.0 | 63.0-63.0 |" in table
    assert "Fine-tuning ahead of frozen features in 1 of 4 runs." in table
    with pytest.raises(SystemExit):  # argparse's usage error, not a ValueError from int()
        study.main(["--subsets", "0,one"])
    assert "expected whole numbers separated by commas, got '0,one'" in capsys.readouterr().err
