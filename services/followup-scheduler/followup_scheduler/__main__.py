from followup_scheduler.settings import SchedulerSettings
from leadnet_shared.service_main import main

if __name__ == "__main__":
    main(package="followup_scheduler", settings_factory=SchedulerSettings, app_path="followup_scheduler.app:create_app")
