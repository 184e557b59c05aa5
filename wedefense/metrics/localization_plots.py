"""Per-utterance localization plot: the waveform with the true spoofed stretches shaded, the frame
LLR curve under it on the same time axis (needs matplotlib: ``pip install -e '.[plot]'``)."""

import numpy as np

from wedefense.utils.fileio import atomic_path


def plot_utterance(path, utt, wav, sample_rate, spoof_ranges, starts, ends, llr, threshold):
    """Write a PNG for one utterance; ``spoof_ranges`` are ``(start_s, end_s)`` of the reference."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 4.5), sharex=True,
                                      gridspec_kw={"height_ratios": [1, 1]})
    t = np.arange(len(wav)) / sample_rate
    top.plot(t, wav, linewidth=0.4, color="0.25")
    for a, b in spoof_ranges:
        for ax in (top, bottom):
            ax.axvspan(a, b, color="tab:red", alpha=0.2, linewidth=0)
    top.set_ylabel("waveform")
    top.set_title(f"{utt} (shaded: spoofed in the reference)")
    # a step curve: each frame's LLR holds over the frame's time
    x = np.append(starts, ends[-1])
    bottom.step(x, np.append(llr, llr[-1]), where="post", color="tab:blue", linewidth=1)
    bottom.axhline(threshold, color="k", linestyle="--", linewidth=0.8,
                   label=f"threshold {threshold:.3f}")
    bottom.set_ylabel("frame LLR")
    bottom.set_xlabel("time (s)")
    bottom.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    plt.close(fig)
    return str(path)
