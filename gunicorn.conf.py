"""gunicorn reads this file from the working directory when started without `-c`.

Share links carry their token in the URL path: the access log writes `/s/[redacted]`
(checkpoints/security/logredact.py). Keep this when you write your own gunicorn configuration.
"""

logger_class = "checkpoints.security.logredact.GunicornLogger"
