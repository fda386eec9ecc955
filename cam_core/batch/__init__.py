"""Batch: a whole folder (or glob, or list of paths) explained once, into a Parquet data set.

- :mod:`~cam_core.batch.sources`: what to read; :mod:`~cam_core.batch.decode`: reading one file safely;
- :mod:`~cam_core.batch.schema`: the Parquet columns; :mod:`~cam_core.batch.rows`: one row per image;
- :mod:`~cam_core.batch.writer`: numbered part files, each atomic; :mod:`~cam_core.batch.resume`: skip done files;
- :mod:`~cam_core.batch.local` and :mod:`~cam_core.batch.ray_engine`: the two engines;
- :mod:`~cam_core.batch.runner`: one run; :mod:`~cam_core.batch.overlays`: PNGs for NG / top-N parts;
- :mod:`~cam_core.batch.progress`: log-friendly progress; :mod:`~cam_core.batch.report`: the streaming report;
- :mod:`~cam_core.batch.cli_commands`: the ``batch`` and ``report`` commands.

``pyarrow`` is needed (requirements.txt); Ray only for ``--engine ray`` (requirements-ray.txt). Import from the
submodules (``from cam_core.batch.runner import run_batch``): this package imports nothing itself, so
registering the commands stays cheap.
"""
