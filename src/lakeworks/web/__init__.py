"""The web console: server-rendered pages over the same services as the REST API.

Pages read through the services and repositories the API uses; every change a page
makes (save, run, operate, deploy, grant…) is a call of the REST API from the page's
script, with the session cookie and the CSRF token, so the API's guard, validation and
audit log apply unchanged. ``install_console(app)`` mounts it on the API app.
"""
