"""The agents tests use the public test kit's fixtures (``scripted_model``, ``fake_openai_server``)."""

from coagent.testing.pytest_plugin import fake_openai_server, nats_server, scripted_model  # noqa: F401
