from hq_console.settings import ConsoleSettings
from leadnet_shared.service_main import main

if __name__ == "__main__":
    main(package="hq_console", settings_factory=ConsoleSettings, app_path="hq_console.app:create_app")
