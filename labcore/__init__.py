"""The lowest layer: physical constants and the run-file format.

``labcore`` imports no other package of labapp (and no Qt, pyvisa or matplotlib), so every
layer may import it: the simulator's physics takes its constants from here, the protocol
layer writes run files through :class:`labcore.runfile.RunWriter`, analysis and the GUI
read them with :func:`labcore.runfile.read_run`.

Modules: :mod:`~labcore.constants` (G0 from the exact SI values), the run file
(:mod:`~labcore.runfile` for the whole API; :mod:`~labcore.schema`,
:mod:`~labcore.run_writer`, :mod:`~labcore.run_reader`, :mod:`~labcore.claim`,
:mod:`~labcore.runlock`, :mod:`~labcore.h5files`, :mod:`~labcore.superblock`), its NeXus
attributes (:mod:`~labcore.nexus`) and checks (:mod:`~labcore.validate`,
:mod:`~labcore.problem`), and the run's other representations: the JSON description
(:mod:`~labcore.run_json`) and the CSV dialect, writer and reader (:mod:`~labcore.csv_io`).
"""
