"""The artifact store: a run's evidence in S3 (or a folder), with keys, checksums and a spool.

Writers (the local runner, the agent pod's collector) build a store with
`from_spec` and hand files to an `Uploader`, which spools them while the store
is unreachable; readers (``kubegym report``) open a run with `open_uri` and use
`Store.list_keys`, `Store.read_bytes` and `Store.download`. Key layout: `keys`;
overwrite rule: `kubegym.store.base`; errors: `errors`. Backends by URI scheme:
`backends`, filled by the backend modules imported here (folder, s3).
"""

from kubegym.store import backends, errors, keys
from kubegym.store.base import ObjectInfo, PutOutcome, Store, WritePolicy
from kubegym.store.factory import from_spec, open_uri
from kubegym.store.folder import FolderStore
from kubegym.store.retry import RetryPolicy
from kubegym.store.s3 import Credentials, S3Location, S3Store, TransferSettings
from kubegym.store.spool import Spool, SpoolEntry
from kubegym.store.uploader import FlushReport, Outcome, Uploader

__all__ = [
    "Credentials",
    "FlushReport",
    "FolderStore",
    "ObjectInfo",
    "Outcome",
    "PutOutcome",
    "RetryPolicy",
    "S3Location",
    "S3Store",
    "Spool",
    "SpoolEntry",
    "Store",
    "TransferSettings",
    "Uploader",
    "WritePolicy",
    "backends",
    "errors",
    "from_spec",
    "keys",
    "open_uri",
]
