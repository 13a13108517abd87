"""The one WSGI entry point: `gunicorn wsgi:app`."""
from integration.app import create_app

app = create_app()
