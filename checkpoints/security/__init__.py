"""Secrets and guards: sealed secrets (secretbox), log redaction (logredact) and the
request-input guard. The API tokens (checkpoints/tokens.py) use services, so they sit above."""
