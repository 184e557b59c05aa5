"""DET curves and score histograms (needs matplotlib: ``pip install -e '.[plot]'``).

- DET: miss rate against false-alarm rate on normal-deviate (probit) axes, one curve per system,
  with each system's EER point (the official DET point) and minDCF point marked.
- Histograms: the class score distributions of one system with the Bayes threshold ``-ln(beta)``.

Also a command line for several systems on one DET plot:

    python -m wedefense.metrics.plots --scores A=exp/a/llr.txt B=exp/b/llr.txt \\
        --keys data/eval/utt2lab --out det.png
"""

import argparse

import numpy as np
from scipy.special import ndtri

from wedefense.metrics.detection import (
    DEFAULT_C_FA,
    DEFAULT_C_MISS,
    DEFAULT_P_SPOOF,
    _check_scores,
    _det_curve,
    _normalised_cost,
    bayes_threshold,
)
from wedefense.utils.fileio import atomic_path

# Probit axes cannot show 0 or 1; rates are clipped to this range.
_EPS = 1e-5
_TICKS = [0.001, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4, 1, 2, 5, 10, 20, 40]


def have_matplotlib():
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


def _pyplot():
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def _probit(p):
    return ndtri(np.clip(p, _EPS, 1 - _EPS))


def plot_det(systems, path, p_spoof=DEFAULT_P_SPOOF, c_miss=DEFAULT_C_MISS, c_fa=DEFAULT_C_FA):
    """Write a DET plot of ``systems``: a list of ``(name, bonafide_scores, spoof_scores)``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 5.5))
    for name, bona, spoof in systems:
        bona, spoof = _check_scores(bona, "bona fide"), _check_scores(spoof, "spoof")
        pmiss, pfa, _ = _det_curve(bona, spoof)
        line, = ax.plot(_probit(pfa), _probit(pmiss), label=name)
        k = int(np.argmin(np.abs(pmiss - pfa)))
        eer = (pmiss[k] + pfa[k]) / 2
        ax.plot(_probit(pfa[k]), _probit(pmiss[k]), "o", color=line.get_color(),
                label=f"{name} EER {100 * eer:.2f}%")
        cost = _normalised_cost(pmiss, pfa, p_spoof, c_miss, c_fa)
        j = int(np.argmin(cost))
        ax.plot(_probit(pfa[j]), _probit(pmiss[j]), "s", color=line.get_color(),
                label=f"{name} minDCF {cost[j]:.4f}")
    ticks = _probit(np.array(_TICKS) / 100)
    labels = [f"{t:g}" for t in _TICKS]
    ax.set_xticks(ticks, labels)
    ax.set_yticks(ticks, labels)
    ax.set_xlim(ticks[0], ticks[-1])
    ax.set_ylim(ticks[0], ticks[-1])
    ax.plot(ticks[[0, -1]], ticks[[0, -1]], ":", color="grey", linewidth=0.8)
    ax.set_xlabel("false alarm rate: spoof accepted (%)")
    ax.set_ylabel("miss rate: bona fide rejected (%)")
    ax.grid(True, linewidth=0.3)
    ax.legend(fontsize=7, loc="upper right")
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def plot_histograms(bona, spoof, path, p_spoof=DEFAULT_P_SPOOF, c_miss=DEFAULT_C_MISS,
                    c_fa=DEFAULT_C_FA, title=None):
    """Write the two class score histograms with the Bayes threshold marked."""
    plt = _pyplot()
    bona, spoof = _check_scores(bona, "bona fide"), _check_scores(spoof, "spoof")
    tau = bayes_threshold(p_spoof, c_miss, c_fa)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    edges = np.histogram_bin_edges(np.concatenate((bona, spoof)), bins=60)
    ax.hist(spoof, bins=edges, density=True, alpha=0.5, label=f"spoof ({spoof.size})")
    ax.hist(bona, bins=edges, density=True, alpha=0.5, label=f"bona fide ({bona.size})")
    ax.axvline(tau, color="black", linestyle="--", label=f"Bayes threshold {tau:.3f}")
    ax.set_xlabel("LLR score")
    ax.set_ylabel("density")
    if title:
        ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)


def main(argv=None):
    from wedefense.metrics.scores_io import read_trials
    from wedefense.utils.cli import entry_point

    @entry_point
    def run(argv):
        parser = argparse.ArgumentParser(prog="python -m wedefense.metrics.plots",
                                         description="Several systems on one DET plot.")
        parser.add_argument("--scores", nargs="+", required=True,
                            help="score files, optionally NAME=PATH")
        parser.add_argument("--keys", required=True)
        parser.add_argument("--out", required=True, help="image to write (.png, .pdf, ...)")
        args = parser.parse_args(argv)
        systems = []
        for item in args.scores:
            name, _, path = item.rpartition("=")
            trials = read_trials(path, args.keys)
            systems.append((name or path, trials.bona, trials.spoof))
        plot_det(systems, args.out)

    run(argv)


if __name__ == "__main__":
    main()
