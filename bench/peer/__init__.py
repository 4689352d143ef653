"""A minimal Django project around the `django-appointment` package, the peer that the
`peer-django-appointment` bench scenarios measure. It runs only in its own venv
(var/bench-peer-venv, from bench/requirements-peer.txt), never in HeatDesk's."""
