"""gunicorn's settings for the dashboard (docs/deployment.md, "App servers"):

    gunicorn -c deploy/gunicorn.conf.py pbx_admin.wsgi --workers 5 --bind 127.0.0.1:8001

Command-line options override these. The access log goes to standard output; provisioning
tokens in request paths are replaced by "…" in it and in the error log (core.log_redaction)."""

logger_class = "core.log_redaction.RedactingGunicornLogger"
accesslog = "-"
