"""The command line (minibert/cli.py): in-process through main([...]) and once as a real
``python -m minibert`` subprocess. The model commands use the embedded default model.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from minibert.cli import DEMO_SENTENCES, main

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def default_model(minilm_dir):
    """Every command here may need the default model: make sure it is there first."""
    return minilm_dir


def parse_table(text):
    """The rows of the cosine table printed after 'cosine similarity', as an array."""
    rows = re.findall(r"^\[(\d+)\]   ((?:\s*-?\d+\.\d{3})+)\s*$", text, flags=re.MULTILINE)
    return np.array([[float(v) for v in values.split()] for _, values in rows])


def test_tokenize(capsys):
    assert main(["tokenize", "Hello, world!"]) == 0
    out = capsys.readouterr().out
    assert "wordpieces (4): hello , world !" in out
    assert "ids with [CLS]/[SEP] (6): [101, 7592, 1010, 2088, 999, 102]" in out
    assert "tokens: [CLS] hello , world ! [SEP]" in out


def test_tokenize_a_pair_with_truncation(capsys):
    assert main(["tokenize", "Hello, world!", "--pair", "Goodbye.", "--max-length", "6"]) == 0
    out = capsys.readouterr().out
    ids = [int(i) for i in re.search(r"ids with \[CLS\]/\[SEP\] \(6\): \[([^\]]*)\]", out).group(1).split(",")]
    assert len(ids) == 6 and ids[0] == 101 and ids.count(102) == 2 and ids[-1] == 102


def test_embed_prints_vectors_and_a_cosine_table(capsys, minilm_dir):
    texts = ["a great film", "a terrible film", "the stock market fell"]
    assert main(["embed", *texts]) == 0
    out = capsys.readouterr().out
    assert "3 sentence vectors of size 384 (mean pooling):" in out
    for i, text in enumerate(texts):
        assert re.search(rf"^\[{i}\] [+-]\d\.\d{{3}} .*\|v\|=\d+\.\d{{3}}  {text}$", out, flags=re.MULTILINE), text
    assert "cosine similarity:" in out
    table = parse_table(out.split("cosine similarity:")[1])
    assert table.shape == (3, 3)
    np.testing.assert_allclose(np.diag(table), 1.0, atol=1e-3)
    np.testing.assert_allclose(table, table.T, atol=1e-3)
    # the same numbers computed here, by hand, from the model's last hidden state
    from minibert.model import BertModel
    from minibert.pretrained import load_tokenizer

    model, tok = BertModel.from_pretrained(minilm_dir), load_tokenizer(minilm_dir)
    batch = tok(texts)
    hidden = model(batch["input_ids"], attention_mask=batch["attention_mask"]).last_hidden_state
    mask = batch["attention_mask"][:, :, None].astype(np.float64)
    vectors = (hidden * mask).sum(1) / mask.sum(1)
    unit = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    np.testing.assert_allclose(table, unit @ unit.T, atol=1.5e-3)  # the table rounds to 3 decimals


def test_embed_one_text_has_no_table(capsys):
    assert main(["embed", "just one", "--pooling", "cls"]) == 0
    out = capsys.readouterr().out
    assert "1 sentence vectors of size 384 (cls pooling):" in out and "cosine similarity" not in out


def test_demo(capsys):
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    assert "6-layer BERT (hidden 384, 12 heads" in out
    for i, text in enumerate(DEMO_SENTENCES):
        assert f"[{i}] {text}" in out
    table = parse_table(out.split("cosine similarity of the sentence vectors:")[1])
    assert table.shape == (len(DEMO_SENTENCES),) * 2
    found = re.search(r"most alike:  \[(\d)\] and \[(\d)\] \((-?\d\.\d{3})\);  least alike: \[(\d)\] and \[(\d)\]", out)
    assert found, out
    i, j = int(found.group(1)), int(found.group(2))
    off_diagonal = table[~np.eye(len(table), dtype=bool)]
    assert table[i, j] == pytest.approx(float(found.group(3)), abs=1e-3)
    assert table[i, j] == pytest.approx(off_diagonal.max(), abs=1e-3)
    # the two film reviews praising a film are closer than praise and the stock market
    assert table[0, 1] > table[0, 4]


def test_download_command(capsys, minilm_dir):
    assert main(["download", "minilm"]) == 0
    assert f"model:   {minilm_dir}" in capsys.readouterr().out


@pytest.mark.parametrize("command", [["tokenize", "x"], ["embed", "a", "b"], ["demo"]])
def test_missing_model_folder_is_one_error_line(capsys, command):
    assert main([*command, "--model", "/nonexistent"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minibert: error: ")
    assert "/nonexistent" in lines[0] and "Traceback" not in captured.err


def test_folder_without_vocab_is_an_error_line(capsys, fixtures_dir):
    assert main(["tokenize", "x", "--model", str(fixtures_dir / "tiny_bert")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minibert: error: ") and "vocab.txt" in err


def test_bad_max_length_is_an_error_line(capsys):
    assert main(["tokenize", "some text", "--max-length", "1"]) == 2
    assert capsys.readouterr().err.startswith("minibert: error: ")


@pytest.mark.parametrize("command", [["exercise", "start"], ["compare", "--quick", "--out"]])
def test_output_folder_that_cannot_be_made_is_one_error_line(capsys, tmp_path, command):
    a_file = tmp_path / "notes.txt"
    a_file.write_text("a file, not a folder")
    assert main([*command, str(a_file / "out")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("minibert: error: ") and len(err.strip().splitlines()) == 1
    assert "notes.txt" in err and "Traceback" not in err


def test_usage_mistakes_exit_2(capsys):
    for argv in ([], ["nonsense"], ["embed"], ["embed", "a", "--pooling", "max"]):
        with pytest.raises(SystemExit) as info:
            main(argv)
        assert info.value.code == 2, argv
    assert "usage: minibert" in capsys.readouterr().err


def run_module(*args):
    env = dict(os.environ)
    return subprocess.run([sys.executable, "-m", "minibert", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=120)


def test_python_dash_m_minibert_tokenize():
    proc = run_module("tokenize", "Hello, world!")
    assert proc.returncode == 0, proc.stderr
    assert "[101, 7592, 1010, 2088, 999, 102]" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_python_dash_m_minibert_error_exit_status():
    proc = run_module("embed", "a", "--model", "/nonexistent")
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("minibert: error:") and "Traceback" not in proc.stderr


def test_output_cut_short_by_its_reader_is_quiet():
    """`minibert ... | head`: when the reader stops early, no traceback and no error line."""
    env = dict(os.environ)
    proc = subprocess.Popen([sys.executable, "-m", "minibert", "tokenize", "word " * 20000], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.readline()
    proc.stdout.close()  # as `head -1` does
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141
    assert err == ""
