-- One database per service: each service owns its data (and its event store) alone.
CREATE DATABASE candidatures;
CREATE DATABASE programmes;
CREATE DATABASE notifications;
CREATE DATABASE reporting;
-- not a service's: Keycloak's own (the identity provider, docker-compose.yml)
CREATE DATABASE keycloak;

-- The event stores' readers wait at a gap in positions until every transaction older than the
-- gap has ended (services/eventkit/sql.py): a session forgotten "idle in transaction" anywhere on
-- this server would hold every relay at its next gap. End such sessions after five minutes.
ALTER DATABASE candidatures SET idle_in_transaction_session_timeout = '5min';
ALTER DATABASE programmes SET idle_in_transaction_session_timeout = '5min';
ALTER DATABASE notifications SET idle_in_transaction_session_timeout = '5min';
ALTER DATABASE reporting SET idle_in_transaction_session_timeout = '5min';
ALTER DATABASE postgres SET idle_in_transaction_session_timeout = '5min';
