"""Embedding maps: t-SNE keeps clusters apart, the projection is cached by its inputs, and bad
tables are named."""

import os

import numpy as np
import pytest

from wedefense.bin import plot_embeddings
from wedefense.explain import embedding_map
from wedefense.utils.errors import InputError
from wedefense.utils.kaldi_io import write_vectors

pytest.importorskip("sklearn")
pytest.importorskip("matplotlib")


def make_set(tmp_path, per_group=15, dim=16):
    """Bona fide and two attacks, each a tight cluster far from the others."""
    rng = np.random.default_rng(0)
    items, labs, attacks = [], [], []
    for g, attack in enumerate(["-", "A01", "A09"]):
        centre = np.zeros(dim)
        centre[g] = 20.0
        for i in range(per_group):
            utt = f"u{g}_{i:02d}"
            items.append((utt, centre + rng.standard_normal(dim)))
            labs.append(f"{utt} {'bonafide' if attack == '-' else 'spoof'}\n")
            attacks.append(f"{utt} {attack}\n")
    scp = str(tmp_path / "embedding.scp")
    write_vectors(str(tmp_path / "embedding.ark"), scp, items)
    (tmp_path / "utt2lab").write_text("".join(labs))
    (tmp_path / "utt2attack").write_text("".join(attacks))
    return scp, str(tmp_path / "utt2lab"), str(tmp_path / "utt2attack")


def test_tsne_keeps_separated_clusters_apart_and_is_cached(tmp_path, monkeypatch):
    scp, utt2lab, utt2attack = make_set(tmp_path)
    ids, vectors, classes, attacks = embedding_map.load_points(scp, utt2lab, utt2attack)
    assert sorted(set(attacks)) == ["A01", "A09", "bonafide"]
    assert classes.count("bonafide") == 15
    cache = str(tmp_path / "cache")
    coords, path, hit = embedding_map.cached_projection(ids, vectors, cache)
    assert not hit and os.path.isfile(path) and coords.shape == (45, 2)
    # every point's nearest neighbour in the map is from its own group
    d = np.linalg.norm(coords[:, None] - coords[None], axis=2)
    np.fill_diagonal(d, np.inf)
    groups = np.asarray(attacks)
    assert (groups[d.argmin(axis=1)] == groups).all()

    def fail(*args, **kwargs):
        raise AssertionError("projected again instead of reading the cache")

    monkeypatch.setattr(embedding_map, "project", fail)
    again, path2, hit = embedding_map.cached_projection(ids, vectors, cache)
    assert hit and path2 == path and np.array_equal(again, coords)
    # other vectors or settings are another entry
    changed = vectors.copy()
    changed[0, 0] += 1
    for args in ((ids, changed, cache), (ids, vectors, cache, "tsne", 1)):
        with pytest.raises(AssertionError, match="projected again"):
            embedding_map.cached_projection(*args)


def test_cli_draws_a_png_with_unseen_attacks(tmp_path):
    scp, utt2lab, utt2attack = make_set(tmp_path)
    out = tmp_path / "figs" / "map.png"
    plot_embeddings.main(["--scp", scp, "--utt2lab", utt2lab, "--utt2attack", utt2attack,
                          "--seen_attacks", "A01", "--out", str(out)])
    assert out.read_bytes()[:4] == b"\x89PNG"
    assert len(os.listdir(tmp_path / "figs" / ".embedding_map_cache")) == 1


def test_an_embedding_without_a_label_is_named(tmp_path):
    scp, utt2lab, _ = make_set(tmp_path)
    lines = open(utt2lab).read().splitlines()
    (tmp_path / "utt2lab").write_text("\n".join(lines[1:]) + "\n")
    with pytest.raises(InputError, match="'u0_00' has an embedding but no label"):
        embedding_map.load_points(scp, utt2lab)


def test_subsampling_keeps_every_group():
    groups = ["bonafide"] * 90 + ["A01"] * 9 + ["A02"] * 1
    keep = embedding_map._stratified(groups, 20, seed=0)
    kept = [groups[i] for i in keep]
    assert kept.count("bonafide") == 18 and kept.count("A01") == 2 and kept.count("A02") == 1
