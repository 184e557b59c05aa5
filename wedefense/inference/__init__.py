"""Using a trained detector outside the recipe: model bundles, export and scoring of audio.

- :mod:`wedefense.inference.bundle`: the self-describing bundle directory, the waveform -> LLR
  module and its TorchScript/ONNX export.
- :mod:`wedefense.inference.bundle_reader`: reading a bundle and running its ONNX model without
  torch (what ``wedefense detect`` needs on a CPU).
- :mod:`wedefense.inference.detector`: :class:`~wedefense.inference.detector.Detector`, which
  scores waveforms, files, folders and ``wav.scp`` lists with a bundle.
- :mod:`wedefense.inference.inputs`: which files a list of inputs names, and their ids.
- :mod:`wedefense.inference.audio_checks`: audio that gets no score (no signal, truncated).
"""
