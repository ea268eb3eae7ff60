from leadnet_shared.migrate import run_env
from notifier.models import metadata

run_env(metadata)
