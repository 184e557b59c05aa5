"""Utterance embeddings (stage 4) in 2-D: do unseen attacks land near the seen ones?

t-SNE from scikit-learn (``pip install -e '.[plot]'``), or UMAP when ``umap-learn`` is installed,
coloured by attack (or by class), with unseen attacks drawn with another marker. A projection
is slow for large sets, so it is cached under a hash of the vectors, their ids and the method's
settings: redrawing with other colours or labels reuses it.
"""

import hashlib
import json
import os

import numpy as np

from wedefense.dataset.tables import read_labels, read_table
from wedefense.utils.errors import InputError
from wedefense.utils.fileio import atomic_path
from wedefense.utils.kaldi_io import read_vectors

METHODS = ("tsne", "umap")


def load_points(scp, utt2lab, utt2attack=None, max_points=5000, seed=0):
    """``(ids, vectors (n, d), classes, attacks)`` of the embeddings in ``scp``; every id needs
    a label. More than ``max_points`` are subsampled (seeded, each group keeping its share)."""
    items = read_vectors(scp)
    if not items:
        raise InputError("no embeddings", scp)
    labels = read_labels(utt2lab)
    attack_of = read_table(utt2attack) if utt2attack else {}
    for utt, _ in items:
        if utt not in labels:
            raise InputError(f"'{utt}' has an embedding but no label in {utt2lab}", scp)
        if utt2attack and utt not in attack_of:
            raise InputError(f"'{utt}' has an embedding but no attack in {utt2attack}", scp)
    dims = {len(v) for _, v in items}
    if len(dims) != 1:
        raise InputError(f"embeddings of different sizes {sorted(dims)}", scp)
    ids = [u for u, _ in items]
    vectors = np.stack([v for _, v in items]).astype(np.float32)
    classes = [labels[u] for u in ids]
    attacks = [_group(labels[u], attack_of.get(u, "-")) for u in ids]
    if len(ids) > max_points:
        keep = _stratified(attacks, max_points, seed)
        ids = [ids[i] for i in keep]
        vectors, classes = vectors[keep], [classes[i] for i in keep]
        attacks = [attacks[i] for i in keep]
    return ids, vectors, classes, attacks


def _group(label, attack):
    return "bonafide" if label == "bonafide" or attack == "-" else attack


def _stratified(groups, count, seed):
    rng = np.random.default_rng(seed)
    groups = np.asarray(groups)
    keep = []
    for name in sorted(set(groups.tolist())):
        members = np.flatnonzero(groups == name)
        share = max(1, int(round(count * len(members) / len(groups))))
        keep.extend(rng.choice(members, min(share, len(members)), replace=False).tolist())
    return sorted(keep)


def projection_key(ids, vectors, method, seed, perplexity):
    h = hashlib.sha256()
    h.update(json.dumps([method, seed, perplexity, list(vectors.shape)]).encode())
    h.update("\n".join(ids).encode())
    h.update(np.ascontiguousarray(vectors, dtype=np.float32).tobytes())
    return h.hexdigest()[:24]


def project(vectors, method="tsne", seed=0, perplexity=30.0):
    """``(n, 2)`` coordinates."""
    n = len(vectors)
    if n < 3:
        raise InputError(f"need at least 3 embeddings to draw a map, got {n}")
    if method == "tsne":
        try:
            from sklearn.manifold import TSNE
        except ImportError:
            raise InputError("t-SNE needs scikit-learn: pip install -e '.[plot]'") from None
        # perplexity must stay below the number of points
        tsne = TSNE(n_components=2, perplexity=min(perplexity, (n - 1) / 3), init="pca",
                    random_state=seed)
        return tsne.fit_transform(vectors.astype(np.float64)).astype(np.float32)
    if method == "umap":
        try:
            import umap
        except ImportError:
            raise InputError("UMAP needs the package umap-learn (pip install umap-learn); "
                             "--method tsne needs only scikit-learn") from None
        reducer = umap.UMAP(n_components=2, random_state=seed,
                            n_neighbors=int(min(15, n - 1)))
        return np.asarray(reducer.fit_transform(vectors), dtype=np.float32)
    raise InputError(f"unknown projection '{method}' (known: {', '.join(METHODS)})")


def cached_projection(ids, vectors, cache_dir, method="tsne", seed=0, perplexity=30.0):
    """:func:`project`, read from ``cache_dir/<hash>.npy`` when these inputs were seen before;
    returns ``(coordinates, cache path, whether it was cached)``."""
    key = projection_key(ids, vectors, method, seed, perplexity)
    path = os.path.join(cache_dir, f"{method}_{key}.npy")
    if os.path.isfile(path):
        coords = np.load(path)
        if coords.shape == (len(ids), 2):
            return coords, path, True
    coords = project(vectors, method, seed, perplexity)
    os.makedirs(cache_dir, exist_ok=True)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            np.save(f, coords)
    return coords, path, False


def plot_map(path, coords, classes, attacks, seen_attacks=None, title=None):
    """Scatter of ``coords`` coloured by attack (bona fide grey); with ``seen_attacks`` given,
    attacks outside it are drawn as crosses and marked "unseen"."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    groups = sorted(set(attacks), key=lambda g: (g != "bonafide", g))
    by_attack = len(groups) > 2 or groups != sorted(set(classes), key=lambda g: g != "bonafide")
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=80)
    attacks = np.asarray(attacks)
    spoof_index = 0
    for group in groups:
        members = attacks == group
        unseen = seen_attacks is not None and group != "bonafide" and group not in seen_attacks
        if group == "bonafide":
            colour = "0.55"
        else:
            colour = colours((spoof_index + 1) % 10)
            spoof_index += 1
        label = group + (" (unseen)" if unseen else "")
        ax.scatter(coords[members, 0], coords[members, 1], s=22 if unseen else 10,
                   marker="x" if unseen else "o", color=colour, alpha=0.9 if unseen else 0.6,
                   linewidths=1.2 if unseen else 0, label=f"{label} ({int(members.sum())})")
    ax.legend(fontsize=8, markerscale=1.5, loc="best", title="attack" if by_attack else None)
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout(pad=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
