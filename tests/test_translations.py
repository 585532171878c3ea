"""Every user-facing string has its Spanish translation, and the catalogue is current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[1]
TRANSLATIONS = ROOT / "src" / "modelserve" / "translations"


def ids(catalog) -> set[str]:
    return {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}


def test_the_catalogue_is_extracted_from_the_current_sources(tmp_path: Path) -> None:
    fresh = tmp_path / "messages.pot"
    pybabel = Path(sys.executable).with_name("pybabel")
    subprocess.run(
        [
            str(pybabel),
            "extract",
            "-F",
            str(ROOT / "babel.cfg"),
            "-k",
            "_l",
            "-k",
            "N_",
            "--no-location",
            "-o",
            str(fresh),
            str(ROOT / "src"),
        ],
        check=True,
        capture_output=True,
    )
    with fresh.open("rb") as a, (TRANSLATIONS / "messages.pot").open("rb") as b:
        assert ids(read_po(a)) == ids(read_po(b)), "run `make translations`"


def test_every_message_has_a_compiled_spanish_translation() -> None:
    with (TRANSLATIONS / "messages.pot").open("rb") as handle:
        wanted = ids(read_po(handle))
    with (TRANSLATIONS / "es" / "LC_MESSAGES" / "messages.mo").open("rb") as handle:
        compiled = read_mo(handle)
    missing = sorted(i for i in wanted if not (compiled.get(i) and compiled.get(i).string))
    assert missing == []
