"""The ``wedefense`` console command: one front door to the entry scripts.

    wedefense detect --model bundle/ a.wav some_dir/ data/eval/wav.scp [--out scores.tsv]
    wedefense export --exp_dir exp/x --model models/avg_model.pt --out exp/x/bundle
    wedefense evaluate --scores llr.txt --keys key.tsv --output_json results.json
    wedefense make-demo-corpus --out_dir corpus
    wedefense serve --model bundle/ [--port 8000]
    wedefense --version
"""

import argparse
import importlib
import sys

import wedefense

# subcommand -> (module whose main(argv) runs it, one-line summary)
COMMANDS = {
    "detect": ("wedefense.bin.detect", "score audio files, folders or wav.scp with a bundle"),
    "export": ("wedefense.bin.export", "write a model bundle (TorchScript, ONNX) from an exp dir"),
    "evaluate": ("wedefense.bin.evaluate", "score an llr.txt against a key (ASVspoof5 metrics)"),
    "calibrate": ("wedefense.bin.calibrate", "train or apply score calibration / fusion"),
    "logits-to-llr": ("wedefense.bin.logits_to_llr", "convert logits ark/scp to llr.txt"),
    "validate-data": ("wedefense.bin.validate_data", "check a data dir before training"),
    "make-demo-corpus": ("wedefense.bin.make_demo_corpus", "synthesize the demo corpus"),
    "prepare-partialspoof": ("wedefense.bin.prepare_partialspoof",
                             "data dirs from a PartialSpoof-layout corpus"),
    "prepare-asvspoof2019": ("wedefense.bin.prepare_asvspoof2019",
                             "data dirs from ASVspoof 2019 LA"),
    "prepare-asvspoof5": ("wedefense.bin.prepare_asvspoof5", "data dirs from ASVspoof 5"),
    "prepare-in-the-wild": ("wedefense.bin.prepare_in_the_wild",
                            "an eval data dir from In-the-Wild"),
    "average-model": ("wedefense.bin.average_model", "average epoch checkpoints"),
    "serve": ("wedefense.bin.serve", "a local page and JSON API to score one recording"),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    summary = "\n".join(f"  {name:22s}{desc}" for name, (_, desc) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="wedefense", formatter_class=argparse.RawDescriptionHelpFormatter,
        description="WeDefense: spoof detection toolkit.",
        epilog=f"commands:\n{summary}\n\n'wedefense COMMAND --help' explains each one.")
    parser.add_argument("--version", action="version", version=wedefense.__version__)
    parser.add_argument("command", choices=sorted(COMMANDS), metavar="COMMAND")
    if not argv or argv[0].startswith("-"):
        parser.parse_args(argv or ["--help"])
        return
    args = parser.parse_args(argv[:1])
    module = importlib.import_module(COMMANDS[args.command][0])
    sys.argv[0] = f"wedefense {args.command}"
    module.main(argv[1:])


if __name__ == "__main__":
    main()
