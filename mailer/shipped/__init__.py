"""The layouts and gettext catalogs that come with mailer.

In the repository they are ``layouts/`` and ``locales/`` at the root, where
they are edited; a wheel installs them here, as ``mailer/shipped/layouts`` and
``mailer/shipped/locales`` (see ``[tool.setuptools]`` in ``pyproject.toml``).
Use :data:`mailer.project.SHIPPED_LAYOUTS` and
:data:`mailer.project.SHIPPED_LOCALES` to find them either way.
"""
