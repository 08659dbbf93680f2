"""Standardized construction sites (标化工地综合监管系统, SPEC ST-01 … ST-26).

The module's records hang off the ``sites`` layer (the pin) and its ``site_fences`` (the electronic fence); each
submodule here declares one part of the flow and its ``router`` (discovered by ``geo.modules``; nothing lists them):

- ``registration`` — project account registration from the project register (ST-01/02);
- ``reports`` — monthly reports with photos, supervision first review, authority receipt (ST-03/04/11);
- ``photos`` — site photos: camera uploads stamped with position and time, checked against the fence (ST-26);
- ``bonus`` — bonus-item declarations and their review and confirmation (ST-05/06/12);
and the authority, expert and evaluation parts beside them. Case transitions go through ``geo.workflow``.
"""
