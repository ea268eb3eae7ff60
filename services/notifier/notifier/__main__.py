from leadnet_shared.service_main import main
from notifier.settings import NotifierSettings

if __name__ == "__main__":
    main(package="notifier", settings_factory=NotifierSettings, app_path="notifier.app:create_app")
