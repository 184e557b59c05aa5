"""Long audio through a frame model: windows on the frame grid, every frame scored once."""

import numpy as np
import pytest

from wedefense.inference.frame_windows import num_frames, plan_windows, stitch


@pytest.mark.parametrize("num_samples", [1, 320, 321, 5000, 16000, 16001, 47999, 160000 + 17])
@pytest.mark.parametrize("window_frames,context", [(50, 10), (11, 5), (200, 0)])
def test_kept_frames_tile_the_file_once_with_context_away_from_cuts(num_samples, window_frames,
                                                                    context):
    hop = 320
    total = num_frames(num_samples, hop)
    windows = plan_windows(num_samples, hop, window_frames, context)
    assert windows[0].keep_first == 0 and windows[-1].keep_last == total
    for a, b in zip(windows, windows[1:]):
        assert a.keep_last == b.keep_first
    for w in windows:
        assert w.start % hop == 0 and 0 <= w.start < w.end <= num_samples
        first, last = w.start // hop, num_frames(w.end, hop)
        assert last - first <= window_frames
        assert first <= w.keep_first < w.keep_last <= last
        # a kept frame is `context` frames from a cut, unless the cut is the file's edge
        assert w.start == 0 or w.keep_first - first >= context
        assert w.end == num_samples or last - w.keep_last >= context


def test_stitch_matches_one_pass_of_a_local_model():
    """A 'model' whose frame score depends on the samples within `context` frames of it gives,
    stitched over windows, exactly its one-pass scores."""
    hop, context = 160, 3
    rng = np.random.default_rng(0)
    wav = rng.standard_normal(160 * 97 + 55)

    def local_model(x):
        frames = num_frames(len(x), hop)
        padded = np.concatenate([x, np.zeros(frames * hop - len(x))]).reshape(frames, hop)
        energy = padded.std(axis=1)
        kernel = np.ones(2 * context + 1)
        # frames near the input's edges see zeros: what differs between windows and one pass
        return np.convolve(np.pad(energy, context), kernel, mode="valid")

    windows = plan_windows(len(wav), hop, 20, context)
    assert len(windows) > 5
    stitched = stitch(windows, [local_model(wav[w.start:w.end]) for w in windows], hop)
    np.testing.assert_allclose(stitched, local_model(wav), rtol=0, atol=1e-12)
    # without context the window edges differ: the test above can fail
    bare = plan_windows(len(wav), hop, 20, 0)
    stitched = stitch(bare, [local_model(wav[w.start:w.end]) for w in bare], hop)
    assert np.abs(stitched - local_model(wav)).max() > 1e-3


def test_bad_plans_are_refused():
    with pytest.raises(ValueError, match="no core frames"):
        plan_windows(10000, 160, 10, 5)
    with pytest.raises(ValueError, match="frame scores"):
        stitch(plan_windows(1000, 160, 100, 0), [np.zeros(3)], 160)
