"""The catalogue of user mistakes, tried through the entry points a student uses: the
``minibert`` command line, read_labelled_file and the Trainer. Each ends in one
minibert error that names what is wrong (or, where the input is merely unusual, such as
a 100,000-character review, in a run that works). docs/reliability.md counts them.
"""

import numpy as np
import pytest

from minibert.cli import main
from minibert.config import BertConfig
from minibert.data import TextDataset, read_labelled_file
from minibert.errors import ConfigError, DataError, InputError, MinibertWarning, TokenizerError
from minibert.model import BertForSequenceClassification
from minibert.pretrained import load_tokenizer
from minibert.tokenizer import BertTokenizer
from minibert.train import TrainConfig, Trainer, predict
from minibert.transfer import splits_from_file


@pytest.fixture(scope="module")
def tokenizer(minilm_dir):
    return load_tokenizer(minilm_dir)


def tiny_model(positions=64, num_labels=2):
    cfg = BertConfig(vocab_size=30522, hidden_size=16, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=32, max_position_embeddings=positions, num_labels=num_labels)
    return BertForSequenceClassification(cfg, seed=0)


def rows(n=60):
    """n labelled texts: enough that the sha1 split puts some in train, dev and test."""
    return [(f"review number {i} was {'good' if i % 2 else 'bad'}", "pos" if i % 2 else "neg") for i in range(n)]


def write_csv(path, data, encoding="utf-8"):
    lines = ["text,label"] + [f'"{t}",{y}' for t, y in data]
    path.write_bytes(("\n".join(lines) + "\n").encode(encoding))
    return path


def one_error_line(capsys, argv, *fragments):
    """Run the CLI: exit status 2, nothing on stdout, one 'minibert: error:' line naming the fragments."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minibert: error: "), captured.err
    assert "Traceback" not in captured.err
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])
    return lines[0]


# ---- data files, through `minibert finetune --data FILE` ------------------------------------
@pytest.mark.parametrize("command", ["finetune", "features", "scratch"])
def test_non_utf8_file_through_the_cli(capsys, tmp_path, command):
    path = write_csv(tmp_path / "latin1.csv", rows() + [("caf\u00e9 cr\u00e8me", "pos")], "latin-1")
    one_error_line(capsys, [command, "--data", str(path)], str(path), "not UTF-8")


def test_text_of_control_characters_only_names_the_line(capsys, tmp_path):
    path = write_csv(tmp_path / "ctrl.csv", rows(5) + [("\x00\x01\u200b\x7f", "pos")] + rows(5))
    one_error_line(capsys, ["finetune", "--data", str(path)], "line 7", "control")
    with pytest.raises(DataError, match="line 7"):
        read_labelled_file(path)


@pytest.mark.parametrize("content, fragment", [
    ("text,label\n   ,pos\nfine,neg\n", "line 2: the text is empty"),   # whitespace only
    ("text,label\nok,pos\nfine,\n", "line 3: the label is empty"),       # a missing label
    ("text,label\nok,pos\nfine,pos\n", "at least two labels"),            # one class only
    ("txt,label\nok,pos\n", "no column 'text'"),                          # wrong column name
    ("", "no column 'text'"),                                             # an empty file
])
def test_bad_rows_through_the_cli(capsys, tmp_path, content, fragment):
    path = tmp_path / "d.csv"
    path.write_text(content, encoding="utf-8")
    one_error_line(capsys, ["finetune", "--data", str(path)], fragment)


def test_missing_and_odd_paths(capsys, tmp_path):
    one_error_line(capsys, ["finetune", "--data", str(tmp_path / "nowhere.csv")], "not found")
    one_error_line(capsys, ["finetune", "--data", str(tmp_path)], "is a folder")
    (tmp_path / "d.xlsx").write_bytes(b"PK\x03\x04")
    one_error_line(capsys, ["finetune", "--data", str(tmp_path / "d.xlsx")], "unknown data format")


def test_unreadable_files(capsys, tmp_path, monkeypatch):
    """Files the user may not read. The suite often runs as root, who may read anything, so
    the refusal is made by hand: opening the file raises PermissionError as it would."""
    data, vocab = write_csv(tmp_path / "d.csv", rows()), tmp_path / "vocab.txt"
    vocab.write_text("[PAD]\n[UNK]\n[CLS]\n[SEP]\n", encoding="utf-8")
    real_open = open

    def refuse(file, *args, **kwargs):
        if str(file) in (str(data), str(vocab)):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr("builtins.open", refuse)
    monkeypatch.setattr("io.open", refuse)
    one_error_line(capsys, ["finetune", "--data", str(data)], str(data), "cannot be read: Permission denied")
    with pytest.raises(TokenizerError, match="cannot be read: Permission denied"):
        BertTokenizer(vocab)


def test_label_only_in_dev_or_test_is_warned_about(tmp_path):
    data = rows(60)
    splits = splits_from_file(write_csv(tmp_path / "d.csv", data))
    test_text = splits.test.texts[0]
    data = [(t, "odd" if t == test_text else y) for t, y in data]
    with pytest.warns(MinibertWarning, match=r"\['odd'\] occur in dev/test but in no training text"):
        splits_from_file(write_csv(tmp_path / "d.csv", data))


@pytest.mark.parametrize("argv, fragment", [
    (["finetune", "--batch-size", "0"], "--batch-size: must be at least 1"),
    (["finetune", "--epochs", "-1"], "--epochs: must be at least 1"),
    (["scratch", "--max-length", "ten"], "--max-length: expected a whole number"),
    (["features", "--lr", "0"], "--lr: must be a positive number"),
    (["features", "--lr", "nan"], "--lr: must be a positive number"),
    (["finetune", "--limit", "0"], "--limit: must be at least 1"),
    (["compare", "--sizes", "100,many"], "--sizes: expected a whole number"),
])
def test_bad_numbers_are_usage_errors(capsys, argv, fragment):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


@pytest.mark.parametrize("command", ["finetune", "features", "scratch"])
def test_max_length_beyond_the_position_table_through_the_cli(capsys, tmp_path, command):
    path = write_csv(tmp_path / "d.csv", rows())
    one_error_line(capsys, [command, "--data", str(path), "--max-length", "600"],
                   "max_length=600", "512 positions")


def test_long_and_strange_texts_run_end_to_end_through_the_cli(capsys, tmp_path):
    """A 100,000-character review, control characters and emoji inside texts, a BOM and CRLF
    line ends: fine-tuning runs, the long text is cut to max_length."""
    data = rows(60)
    data[3] = ("great " * 16_000 + "end", "pos")  # ~100k characters
    data[4] = ("bad\x00 film\u200b \U0001f600\u0301 \u0009tabbed", "neg")
    path = tmp_path / "d.csv"
    lines = ["text,label"] + [f'"{t}",{y}' for t, y in data]
    path.write_bytes(b"\xef\xbb\xbf" + "\r\n".join(lines).encode("utf-8") + b"\r\n")
    assert len(read_labelled_file(path).texts[3]) > 96_000
    assert main(["finetune", "--data", str(path), "--epochs", "1", "--max-length", "16", "--batch-size", "64"]) == 0
    out = capsys.readouterr().out
    assert "fine_tune: dev accuracy" in out


# ---- the Trainer and predict, from Python ------------------------------------------------
def test_max_length_beyond_positions_is_refused_before_training(tokenizer):
    train = TextDataset(["a short text", "another"], [0, 1], ["neg", "pos"])
    with pytest.raises(ConfigError, match=r"max_length=65 is more than this model's 64 positions"):
        Trainer(tiny_model(positions=64), tokenizer, train, None, TrainConfig(max_length=65, progress=False))
    with pytest.raises(ConfigError, match="64 positions"):
        predict(tiny_model(positions=64), tokenizer, ["a"], max_length=100)
    with pytest.raises(ConfigError, match="batch_size must be at least 1, got 0"):
        predict(tiny_model(), tokenizer, ["a"], batch_size=0)
    from minibert.features import embed_texts

    with pytest.raises(ConfigError, match="batch_size must be at least 1, got 0"):
        embed_texts(tiny_model().bert, tokenizer, ["a"], batch_size=0, max_length=16)


def test_batch_size_larger_than_the_data_is_one_batch(tokenizer):
    train = TextDataset(["good film", "bad film", "fine film"], [1, 0, 1], ["neg", "pos"])
    trainer = Trainer(tiny_model(), tokenizer, train, None,
                      TrainConfig(epochs=2, batch_size=1000, max_length=16, progress=False))
    history = trainer.train()
    assert trainer.steps_per_epoch == 1 and len(history.steps) == 2
    assert all(np.isfinite(s["loss"]) for s in history.steps)


@pytest.mark.parametrize("settings, fragment", [
    (dict(batch_size=0), "batch_size must be a positive integer"),
    (dict(epochs=0), "epochs must be a positive integer"),
    (dict(max_length=2), "max_length must be at least 3"),
    (dict(lr=-1.0), "lr must be positive"),
    (dict(warmup_ratio=1.5), "warmup_ratio must be in"),
])
def test_bad_training_settings(tokenizer, settings, fragment):
    train = TextDataset(["good", "bad"], [1, 0], ["neg", "pos"])
    with pytest.raises(ConfigError, match=fragment):
        Trainer(tiny_model(), tokenizer, train, None, TrainConfig(progress=False, **settings))


def test_one_string_instead_of_a_list_of_texts(tokenizer):
    """A str is iterable: without a check, every character would become a text of its own."""
    from minibert.features import embed_texts

    model = tiny_model()
    with pytest.raises(InputError, match=r"got one str; for a single text, pass \[text\]"):
        predict(model, tokenizer, "a fine film")
    with pytest.raises(InputError, match="got one str"):
        embed_texts(model.bert, tokenizer, "a fine film", max_length=16)
    with pytest.raises(TokenizerError, match="text must be a str, not int"):
        embed_texts(model.bert, tokenizer, ["a fine film", 7], max_length=16)
    assert predict(model, tokenizer, ["a fine film"]).shape == (1, 2)


def test_labels_beyond_the_head_are_refused(tokenizer):
    train = TextDataset(["a", "b", "c"], [0, 1, 2], ["x", "y", "z"])
    with pytest.raises(DataError, match=r"labels 0..2, but the model has 2 outputs"):
        Trainer(tiny_model(num_labels=2), tokenizer, train, None, TrainConfig(progress=False))
    dev = TextDataset(["a"], [-1], ["x", "y"])
    with pytest.raises(DataError, match="the dev data"):
        Trainer(tiny_model(), tokenizer, TextDataset(["a"], [0], ["x", "y"]), dev, TrainConfig(progress=False))
