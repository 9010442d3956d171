"""Files and folders Routeway makes under ROUTEWAY_HOME are the user's alone: folders 0700, files 0600.

The modes are set explicitly, whatever the process umask: the store holds key hashes, spend and
generation records, and `config.json` holds the upstream key.
"""

from __future__ import annotations

import os
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def make_private_dir(path: Path) -> None:
    """Create `path` and any missing parents, each 0700; a folder that already exists is left as it is."""
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent and len(missing) < 64:
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR)
        except FileExistsError:
            continue  # another process made it first
        os.chmod(folder, PRIVATE_DIR)  # mkdir's mode is masked by the umask


def make_private_file(path: Path) -> None:
    """Create `path` empty if it is missing, and make it (new or old) readable by the user only."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, PRIVATE_FILE)
    try:
        os.fchmod(fd, PRIVATE_FILE)
    finally:
        os.close(fd)
