"""A run folder on disk, in one package: its layout and identity (``layout``), checked checkpoints
(``checkpoints``), the generators it stores and how any generator path loads (``generators``), the
fingerprints of random frozen encoders rebuilt from the seed (``random_encoders``), and what a
finished run keeps (``retention``). Which older run folders are still read: docs/storage.md
"Older run folders"."""
