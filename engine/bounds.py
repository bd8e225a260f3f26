"""Every bound on what supertui reads from a file, and so on what it writes for a later read.

One place, so that a writer can never save what its reader will refuse (a note the store would
hide the run for), and a reader never meets more than it can handle: a FIFO, a folder, /dev/zero,
a gigabyte file or nesting a hundred thousand deep costs one error naming the file, never a hang,
a traceback or the machine's memory. The readers go through engine.system.input_files.
"""

from __future__ import annotations

KIB = 1024
MIB = 1024 * KIB

# -- Files a user hands the CLI (a sweep TOML, a --reference CSV or JSON) ------------------------
USER_FILE_MAX_BYTES = 2_000_000  # the largest reference we ship is a few KiB
USER_FILE_MAX_DEPTH = 32  # a sweep file nests 3 levels, a reference 3
USER_FIELD_MAX_CHARS = 10_000  # one CSV field (the csv module's own limit is 131,072)

# -- Numbers in any JSON read from disk ----------------------------------------------------------
JSON_NUMBER_MAX_CHARS = 64  # a float64 never needs more; 5,000 digits is not a number we wrote
JSON_MAX_DEPTH = 64  # run files nest a few levels; deeper is not ours

# -- A run folder (<data dir>/runs/<id>/) --------------------------------------------------------
RUN_ID_MAX_CHARS = 128
MANIFEST_MAX_BYTES = 4 * MIB  # a run with the largest grid writes well under 1 MiB
MANIFEST_MAX_DEPTH = 16  # the manifests we write nest 4 deep
TEXT_MAX_CHARS = 65_536  # characters of a note, a tag, an error, a warning
LIST_MAX_ITEMS = 100_000  # entries of a list (seeds, tags, warnings, the sparkline)
NPY_HEADER_BYTES = 4 * KIB  # an .npy header is a few hundred bytes
# Beyond its arrays' bytes, what a run's .npz may hold: the zip's records, and entries a newer
# version adds that this one never reads (only the known entries are ever decompressed).
NPZ_OVERHEAD_BYTES = 64 * MIB

# -- Files of the data directory that index runs -------------------------------------------------
INDEX_MAX_BYTES = 256 * MIB  # the listing cache: about 1 KiB a run
SWEEP_INDEX_MAX_BYTES = 64 * MIB  # a sweep's plan and run ids: about 100 bytes a run
COMPILE_NOTES_MAX_BYTES = 64 * 1024  # a compile-notes cache file holds four numbers
