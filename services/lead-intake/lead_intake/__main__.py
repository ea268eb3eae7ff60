from lead_intake.settings import IntakeSettings
from leadnet_shared.service_main import main

if __name__ == "__main__":
    main(package="lead_intake", settings_factory=IntakeSettings, app_path="lead_intake.app:create_app")
