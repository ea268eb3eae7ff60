"""people_messages: digest lines waiting for their digest, the queued messages to people (the durable outbox of
the robots, SMS and e-mail channels, so a restart loses nothing) and each channel's recent sends and pause (its
rate limit holds across restarts and replicas).
"""

from leadnet_shared import ddl

revision, down_revision = "0002", "0001"

upgrade, downgrade = ddl.tables_revision(
    (
        "people_lines",
        "trigger varchar(40) NOT NULL",
        "channel_id varchar(80) NOT NULL",
        "subject varchar(120) NOT NULL",
        "position varchar(40) NOT NULL",
        "dealer varchar(32) NOT NULL",
        "line text NOT NULL",
        "flush_at timestamptz NOT NULL",
        "event_id varchar(100) NOT NULL",
        "created_at timestamptz NOT NULL",
        "CONSTRAINT pk_people_lines PRIMARY KEY (trigger, channel_id, subject, position)",
    ),
    (
        "people_messages",
        "message_id bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT pk_people_messages PRIMARY KEY",
        "channel_id varchar(80) NOT NULL",
        "trigger varchar(40) NOT NULL",
        "dealer varchar(32) NOT NULL",
        "position varchar(40) NOT NULL",
        "title text NOT NULL",
        "lines jsonb NOT NULL",
        "params jsonb NOT NULL",
        "status varchar(16) NOT NULL",
        "attempts integer DEFAULT '0' NOT NULL",
        "not_before timestamptz NOT NULL",
        "queued_at timestamptz NOT NULL",
        "sent_at timestamptz",
        "last_error text",
        "last_code varchar(60)",
        "CONSTRAINT ck_people_messages_ck_people_messages_status CHECK (status IN ('queued', 'sent', 'failed'))",
    ),
    (
        "people_channel_sends",
        "channel_id varchar(80) NOT NULL",
        "at timestamptz NOT NULL",
    ),
    (
        "people_channel_pauses",
        "channel_id varchar(80) CONSTRAINT pk_people_channel_pauses PRIMARY KEY",
        "paused_until timestamptz NOT NULL",
    ),
    indexes=(
        "CREATE INDEX ix_people_lines_flush_at ON people_lines (flush_at)",
        "CREATE INDEX ix_people_messages_due ON people_messages (not_before, message_id) WHERE status = 'queued'",
        "CREATE INDEX ix_people_channel_sends ON people_channel_sends (channel_id, at)",
    ),
)
