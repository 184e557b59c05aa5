"""MLAAD + M-AILABS recipe: prepare_data.sh on fixture trees in the released layouts."""

import os

from tests.recipe_utils import read_lines, recipe_dir, run_script
from tests.test_prepare_mlaad import make_trees

RECIPE = recipe_dir("mlaad")


def test_prepare_data_sh_reads_both_corpora_under_corpus_dir(tmp_path, repo_env):
    _, _, rows = make_trees(str(tmp_path / "corpus"))
    data = str(tmp_path / "data")
    run_script(RECIPE, ["local/prepare_data.sh", str(tmp_path / "corpus"), data], repo_env)
    for subset in ("train", "dev", "eval"):
        assert read_lines(os.path.join(data, subset, "utt2lab")) == [
            f"{r['utt']} {r['label']}" for r in rows[subset]]


def test_prepare_data_sh_names_a_missing_corpus(tmp_path, repo_env):
    proc = run_script(RECIPE, ["local/prepare_data.sh", str(tmp_path), str(tmp_path / "d")],
                      repo_env, check=False)
    assert proc.returncode != 0 and "M-AILABS folder not found" in proc.stderr


def add_eval_model_and_reader(root):
    """A second TTS model (German) and a second reader (de_DE) in the eval set, so that eval has
    two TTS models and bona fide speech in two languages."""
    from tests.conftest import write_wav
    from tests.test_prepare_mlaad import DUR, names_per_set

    model = names_per_set("tts_models_multilingual_vits_", 2)["eval"][1]
    reader = names_per_set("reader_", 2)["eval"][1]
    for k in range(2):
        write_wav(os.path.join(root, "MLAAD", "fake", "de", model, f"clip_{k}.wav"), DUR, k + 7)
        write_wav(os.path.join(root, "M-AILABS", "de_DE", "by_book", "male", reader, "book_b",
                               "wavs", f"book_b_{k:02d}_f{k:06d}.wav"), DUR, k + 9)
    return model


def test_run_sh_trains_and_scores_per_tts_model_and_language(tmp_path, repo_env):
    from tests.recipe_utils import TINY_TRAIN, counts, read_results, run_recipe

    corpus = tmp_path / "corpus"
    _, _, rows = make_trees(str(corpus))
    second = add_eval_model_and_reader(str(corpus))
    first = next(r["attack"] for r in rows["eval"] if r["label"] == "spoof")
    exp = tmp_path / "exp"
    run_recipe(RECIPE, ["--corpus_dir", str(corpus), "--data", str(tmp_path / "data"),
                        "--exp_dir", str(exp), "--num_avg", "1",
                        "--train_overrides", TINY_TRAIN], repo_env)
    for suffix in ("", "_calibrated"):
        results = read_results(exp / f"results_eval{suffix}.json")
        # per TTS model: its clips (two languages for the first) against all 4 bona fide
        assert counts(results["per_attack"]) == {"pooled": (4, 6), first: (4, 4), second: (4, 2)}
        # per language, a condition: bona fide and spoof of that language; one class: counts only
        assert counts(results["breakdowns"]["lang"]) == {
            "pooled": (4, 6), "de": (2, 4), "fr": (2, 0), "pl": (0, 2)}
    dev = read_results(exp / "results_dev.json")
    assert dev["num_bonafide"] == 2 and dev["num_spoof"] == 4
    assert set(dev["breakdowns"]["lang"]) == {"pooled", "de", "pl"}
