"""Pictures of relevance maps (needs matplotlib: ``pip install -e '.[plot]'``).

Top: the spectrogram (the model's own features under a 2-D map), the map over it; bottom: the
relevance of each frame. Labelled spoofed ranges are shaded in both, speech frames marked below.
"""

import numpy as np

from wedefense.explain.relevance_summary import time_relevance
from wedefense.utils.fileio import atomic_path


def log_spectrogram(wav, sample_rate, frame_shift, frames, fft_size=512):
    """``(frames, fft_size // 2 + 1)`` log power, frame ``k`` starting at ``k`` shifts."""
    step = max(1, int(round(frame_shift * sample_rate)))
    wav = np.asarray(wav, dtype=np.float64)
    padded = np.zeros(frames * step + fft_size)
    padded[:min(len(wav), len(padded))] = wav[:len(padded)]
    index = np.arange(frames)[:, None] * step + np.arange(fft_size)[None]
    spec = np.abs(np.fft.rfft(padded[index] * np.hanning(fft_size), axis=1)) ** 2
    return np.log(spec + 1e-10)


def plot_relevance(path, wav, sample_rate, rmap, title, spoof_ranges=(), speech=None):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    frames = rmap.values.shape[0]
    end = frames * rmap.frame_shift
    if rmap.values.ndim == 2 and rmap.features is not None:
        grid, ylabel = rmap.features, "feature bin"
    else:
        grid, ylabel = log_spectrogram(wav, sample_rate, rmap.frame_shift, frames), "kHz"
    top_extent = (0, end, 0, grid.shape[1] if ylabel != "kHz" else sample_rate / 2000)
    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(7.5, 3.6), dpi=80, sharex=True,
                                  gridspec_kw={"height_ratios": [3, 1]})
    ax.imshow(grid.T, origin="lower", aspect="auto", extent=top_extent, cmap="gray_r")
    if rmap.values.ndim == 2:
        peak = rmap.values.max()
        shown = rmap.values / peak if peak > 0 else rmap.values
        ax.imshow(np.ma.masked_less(shown.T, 0.05), origin="lower", aspect="auto",
                  extent=top_extent, cmap="inferno", alpha=0.55, vmin=0, vmax=1)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=9)
    curve = time_relevance(rmap.values) if rmap.values.ndim == 2 else rmap.values
    t = (np.arange(frames) + 0.5) * rmap.frame_shift
    ax2.plot(t, curve, color="tab:blue", lw=1)
    ax2.axhline(0, color="0.6", lw=0.5)
    ax2.set_ylabel("relevance", fontsize=8)
    ax2.set_xlabel("time (s)")
    for a, b in spoof_ranges:
        for axis in (ax, ax2):
            axis.axvspan(a, b, color="tab:red", alpha=0.25, lw=0)
    if speech is not None and len(speech):
        low = ax2.get_ylim()[0]
        ax2.scatter(t[:len(speech)][np.asarray(speech)], np.full(int(np.sum(speech)), low),
                    marker="|", s=6, color="tab:green", lw=0.5)
    ax2.set_xlim(0, end)
    fig.tight_layout(pad=0.3)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)
