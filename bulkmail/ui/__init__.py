"""The local web page (`bulkmail ui`): the import workflow — account, file, columns, rows,
plan, apply, results — plus export, sync and history, on this machine's loopback, over the
same library, journal, rails and audit log as the command line.

Needs the ``ui`` extra (Starlette, Jinja2, uvicorn, python-multipart): pip install 'bulkmail[ui]'.
"""
