"""DataService Studio: SQL published as versioned, secured, rate-limited REST APIs.

Definitions live in the workspace (``dataservice/<group>/<name>.api.yml``); published
versions, applications, grants, rate counters, nonces and the call log live in the
metadata store (migration ``0013``), so any number of server processes serve the same
APIs. See docs/dataservice.md.
"""
