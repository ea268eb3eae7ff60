from leadnet_shared.migrate import run_env
from followup_scheduler.models import metadata

run_env(metadata)
