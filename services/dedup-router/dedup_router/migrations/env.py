from leadnet_shared.migrate import run_env
from dedup_router.models import metadata

run_env(metadata)
