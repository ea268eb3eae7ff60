from hq_console.models import metadata
from leadnet_shared.migrate import run_env

run_env(metadata)
