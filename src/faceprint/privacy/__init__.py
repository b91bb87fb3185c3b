"""Privacy: search over encrypted templates (CKKS), a two-party threshold variant
(threshold Paillier) and revocable templates. Needs ``pip install 'faceprint[privacy]'``
for the homomorphic parts; nothing heavy is imported until a function needs it."""
