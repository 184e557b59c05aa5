"""The ASVspoof5 Track-1 protocol line: its ten columns, defined once.

Protocols (``ASVspoof5.{train,dev.track_1,eval.track_1}.tsv``) are space separated despite the
name, no header. The database README calls the columns SPEAKER_ID FLAC_FILE_NAME SPEAKER_GENDER
CODEC CODEC_Q CODEC_SEED ATTACK_TAG ATTACK_LABEL KEY TMP; we use the short names below (they are
the metadata column names users pass to ``evaluate --breakdown``). Imports nothing heavy: stage 7
reads it at start-up.
"""

from wedefense.dataset.tables import LABELS
from wedefense.utils.errors import InputError

COLUMNS = ("speaker", "filename", "gender", "codec", "codec_q", "codec_seed", "attack_tag",
           "attack", "key", "tmp")
ID, ATTACK, KEY = COLUMNS.index("filename"), COLUMNS.index("attack"), COLUMNS.index("key")


def looks_like_protocol(fields):
    """True for the fields of a line that has the protocol's shape (ten columns, a KEY label)."""
    return len(fields) == len(COLUMNS) and fields[KEY] in LABELS


def column_count_error(count, path, lineno):
    """The error for a line with ``count`` fields instead of the ten columns."""
    return InputError(f"expected {len(COLUMNS)} columns ({' '.join(COLUMNS)}), got {count}",
                      path, lineno)
