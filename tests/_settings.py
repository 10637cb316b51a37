"""Settings shared by the tests (imported by conftest.py and test modules)."""

#: The network and training of most tests: small enough to fit in ~30 ms.
TINY = dict(
    channels=(4,),
    latent_dim=2,
    max_epochs=2,
    batch_size=32,
    device="cpu",
    random_state=0,
)
#: The same for the dense detector.
TINY_DENSE = dict(
    hidden_layer_sizes=(4,), latent_dim=2, max_epochs=2, device="cpu", random_state=0
)
