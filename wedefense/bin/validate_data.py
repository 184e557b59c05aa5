"""Check a Kaldi-style data dir before training on it: tables, ids, audio.

    python -m wedefense.bin.validate_data data/train [--decode] [--expect_rate 16000]

Reports, each naming the file and line: malformed or duplicated lines, ids in one table and not
another (wav.scp, utt2lab, and utt2dur, utt2spk, utt2attack, lab2utt where present), unknown
labels, missing, unreadable or empty audio, durations that disagree with utt2dur, and (with
--expect_rate) other sample rates. --decode reads every file through (finds truncated files that
have a sound header; slower). Prints a summary (utterances and hours per label, sample rates)
and exits non-zero if there was any problem.
"""

import argparse
import os
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from wedefense.dataset.audio import audio_info, load_audio
from wedefense.utils.cli import entry_point
from wedefense.utils.errors import InputError

OPTIONAL_TABLES = ("utt2dur", "utt2spk", "utt2attack")


def get_parser():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("data_dir", help="directory with wav.scp and utt2lab")
    parser.add_argument("--labels", default="bonafide,spoof",
                        help="comma-separated allowed labels; 'any' accepts every label")
    parser.add_argument("--decode", action="store_true", help="decode every file fully")
    parser.add_argument("--expect_rate", type=int, default=None,
                        help="report files at another sample rate as problems")
    parser.add_argument("--duration_tolerance", type=float, default=0.05,
                        help="seconds utt2dur may differ from the audio header")
    parser.add_argument("--num_threads", type=int, default=8, help="audio header readers")
    parser.add_argument("--max_report", type=int, default=50, help="problems printed at most")
    return parser


class Problems(list):
    def add(self, path, line, message):
        self.append(f"{path}:{line}: {message}" if line else f"{path}: {message}")


def read_lines(path, problems, min_fields=2, max_fields=2):
    """``{id: (line, fields)}``; malformed and duplicated lines become problems."""
    table = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            fields = line.split()
            if not fields:
                continue
            if not min_fields <= len(fields) <= max_fields:
                problems.add(path, lineno, f"expected {min_fields}"
                             f"{'' if max_fields == min_fields else '+'} fields, "
                             f"got {len(fields)}")
                continue
            if fields[0] in table:
                problems.add(path, lineno, f"duplicate id '{fields[0]}' (first at line "
                             f"{table[fields[0]][0]})")
                continue
            table[fields[0]] = (lineno, fields[1:])
    return table


def compare_ids(a, path_a, b, path_b, problems):
    for key, (line, _) in a.items():
        if key not in b:
            problems.add(path_a, line, f"id '{key}' is missing from {path_b}")
    for key, (line, _) in b.items():
        if key not in a:
            problems.add(path_b, line, f"id '{key}' is missing from {path_a}")


def check_audio(wav_scp, wavs, decode, num_threads):
    """``{id: (seconds, rate) or InputError}`` for every wav.scp entry."""
    def one(entry):
        key, (_, fields) = entry
        path = " ".join(fields)
        if not os.path.isfile(path):
            return key, InputError("audio file not found", path)
        try:
            seconds, rate, _ = audio_info(path)
            if decode:
                load_audio(path, rate)
            return key, (seconds, rate)
        except InputError as e:
            return key, e
    with ThreadPoolExecutor(max_workers=max(1, num_threads)) as pool:
        return dict(pool.map(one, wavs.items()))


def validate(data_dir, labels=("bonafide", "spoof"), decode=False, expect_rate=None,
             duration_tolerance=0.05, num_threads=8):
    """``(problems, summary)`` for one data dir."""
    problems = Problems()
    paths = {name: os.path.join(data_dir, name) for name in
             ("wav.scp", "utt2lab", "lab2utt", *OPTIONAL_TABLES)}
    for required in ("wav.scp", "utt2lab"):
        if not os.path.isfile(paths[required]):
            problems.add(paths[required], None, "required file not found")
    if problems:
        return problems, {}
    wavs = read_lines(paths["wav.scp"], problems, max_fields=10 ** 6)
    utt2lab = read_lines(paths["utt2lab"], problems)
    compare_ids(wavs, paths["wav.scp"], utt2lab, paths["utt2lab"], problems)
    for key, (line, (lab,)) in utt2lab.items():
        if labels is not None and lab not in labels:
            problems.add(paths["utt2lab"], line, f"unknown label '{lab}' of '{key}' (expected "
                         f"one of {', '.join(labels)})")
    tables = {}
    for name in OPTIONAL_TABLES:
        if os.path.isfile(paths[name]):
            tables[name] = read_lines(paths[name], problems)
            compare_ids(wavs, paths["wav.scp"], tables[name], paths[name], problems)
    if "utt2attack" in tables:  # the rule stage 7's per-attack table relies on
        for key, (line, (attack,)) in tables["utt2attack"].items():
            if key in utt2lab and (attack == "-") != (utt2lab[key][1][0] == "bonafide"):
                problems.add(paths["utt2attack"], line, f"attack '{attack}' of '{key}' "
                             f"contradicts its label '{utt2lab[key][1][0]}' ('-' is for bona "
                             "fide trials only; a spoof without an attack id is 'unknown')")
    if os.path.isfile(paths["lab2utt"]):
        listed = {}
        lab2utt = read_lines(paths["lab2utt"], problems, max_fields=10 ** 9)
        for lab, (line, utts) in lab2utt.items():
            for utt in utts:
                if utt in listed:
                    problems.add(paths["lab2utt"], line, f"'{utt}' listed twice")
                listed[utt] = lab
                if utt in utt2lab and utt2lab[utt][1][0] != lab:
                    problems.add(paths["lab2utt"], line, f"'{utt}' is under '{lab}' but "
                                 f"utt2lab says '{utt2lab[utt][1][0]}'")
        for utt, (line, _) in utt2lab.items():
            if utt not in listed:
                problems.add(paths["utt2lab"], line, f"'{utt}' is missing from lab2utt")

    audio = check_audio(paths["wav.scp"], wavs, decode, num_threads)
    rates, hours = Counter(), Counter()
    for key, result in audio.items():
        line = wavs[key][0]
        if isinstance(result, InputError):
            problems.add(paths["wav.scp"], line, f"'{key}': {result}")
            continue
        seconds, rate = result
        rates[rate] += 1
        hours[utt2lab[key][1][0] if key in utt2lab else "?"] += seconds / 3600.0
        if expect_rate and rate != expect_rate:
            problems.add(paths["wav.scp"], line, f"'{key}' is at {rate} Hz, not {expect_rate}")
        if "utt2dur" in tables and key in tables["utt2dur"]:
            dline, (dur,) = tables["utt2dur"][key]
            try:
                listed_seconds = float(dur)
            except ValueError:
                problems.add(paths["utt2dur"], dline, f"bad duration '{dur}'")
                continue
            if abs(listed_seconds - seconds) > duration_tolerance:
                problems.add(paths["utt2dur"], dline, f"'{key}' is {seconds:.3f} s long, not "
                             f"{listed_seconds}")
    counts = Counter(lab for _, (lab,) in utt2lab.values())
    summary = {"utterances": len(wavs), "hours": sum(hours.values()),
               "per_label": {lab: (counts[lab], hours[lab]) for lab in sorted(counts)},
               "sample_rates": dict(sorted(rates.items()))}
    return problems, summary


@entry_point
def main(argv=None):
    args = get_parser().parse_args(argv)
    labels = None if args.labels == "any" else tuple(args.labels.split(","))
    problems, summary = validate(args.data_dir, labels, args.decode, args.expect_rate,
                                 args.duration_tolerance, args.num_threads)
    if summary:
        per_label = ", ".join(f"{lab} {n} ({h:.2f} h)"
                              for lab, (n, h) in summary["per_label"].items())
        rates = ", ".join(f"{r} Hz: {n}" for r, n in summary["sample_rates"].items())
        print(f"{args.data_dir}: {summary['utterances']} utterances, {summary['hours']:.2f} h; "
              f"{per_label}; sample rates {rates or 'none readable'}")
    for message in problems[:args.max_report]:
        print(message, file=sys.stderr)
    if len(problems) > args.max_report:
        print(f"... and {len(problems) - args.max_report} more", file=sys.stderr)
    if problems:
        print(f"{args.data_dir}: {len(problems)} problem(s)", file=sys.stderr)
        sys.exit(1)
    print(f"{args.data_dir}: OK")


if __name__ == "__main__":
    main()
