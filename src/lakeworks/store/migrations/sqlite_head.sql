-- The schema `alembic upgrade heads` creates in an empty SQLite store.
CREATE TABLE alembic_version (
	version_num VARCHAR(32) NOT NULL, 
	CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);
CREATE TABLE runs (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	run_type VARCHAR NOT NULL, 
	run_key VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR NOT NULL, 
	description TEXT NOT NULL, 
	params_json TEXT NOT NULL, 
	state VARCHAR NOT NULL, 
	finished_at DATETIME, 
	CONSTRAINT pk_runs PRIMARY KEY (id), 
	CONSTRAINT uq_runs_run_key UNIQUE (run_key)
);
CREATE INDEX ix_runs_workspace_env_id ON runs (workspace, env, id);
CREATE TABLE node_versions (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	version INTEGER NOT NULL, 
	code_hash VARCHAR NOT NULL, 
	code TEXT NOT NULL, 
	header_json TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_node_versions PRIMARY KEY (id), 
	CONSTRAINT uq_node_versions_node_version UNIQUE (workspace, env, node_key, version)
);
CREATE TABLE instances (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	workflow VARCHAR NOT NULL, 
	run_type VARCHAR NOT NULL, 
	run_key VARCHAR NOT NULL, 
	cycle_time DATETIME NOT NULL, 
	bizdate VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	reason TEXT, 
	attempts INTEGER NOT NULL, 
	max_attempts INTEGER NOT NULL, 
	priority INTEGER NOT NULL, 
	resource_group VARCHAR NOT NULL, 
	owner VARCHAR, 
	node_version INTEGER, 
	rendered_code TEXT, 
	created_at DATETIME NOT NULL, 
	started_at DATETIME, 
	finished_at DATETIME, 
	next_attempt_at DATETIME, 
	worker VARCHAR, 
	lease_expires_at DATETIME, 
	run_id INTEGER, 
	CONSTRAINT pk_instances PRIMARY KEY (id), 
	CONSTRAINT fk_instances_run_id_runs FOREIGN KEY(run_id) REFERENCES runs (id) ON DELETE SET NULL, 
	CONSTRAINT uq_instances_cycle UNIQUE (workspace, env, run_type, run_key, node_key, cycle_time)
);
CREATE INDEX ix_instances_listing ON instances (workspace, env, state, id);
CREATE INDEX ix_instances_bizdate ON instances (bizdate);
CREATE INDEX ix_instances_node_cycle ON instances (node_key, cycle_time);
CREATE INDEX ix_instances_runnable ON instances (state, priority, cycle_time);
CREATE INDEX ix_instances_run_id ON instances (run_id);
CREATE TABLE instance_dependencies (
	instance_id INTEGER NOT NULL, 
	upstream_instance_id INTEGER NOT NULL, 
	CONSTRAINT pk_instance_dependencies PRIMARY KEY (instance_id, upstream_instance_id), 
	CONSTRAINT fk_instance_dependencies_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE, 
	CONSTRAINT fk_instance_dependencies_upstream_instance_id_instances FOREIGN KEY(upstream_instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE INDEX ix_instance_dependencies_upstream ON instance_dependencies (upstream_instance_id);
CREATE TABLE attempts (
	id INTEGER NOT NULL, 
	instance_id INTEGER NOT NULL, 
	number INTEGER NOT NULL, 
	state VARCHAR NOT NULL, 
	worker VARCHAR, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	error TEXT, 
	CONSTRAINT pk_attempts PRIMARY KEY (id), 
	CONSTRAINT fk_attempts_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE, 
	CONSTRAINT uq_attempts_instance_number UNIQUE (instance_id, number)
);
CREATE TABLE instance_logs (
	id INTEGER NOT NULL, 
	instance_id INTEGER NOT NULL, 
	attempt INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	text TEXT NOT NULL, 
	CONSTRAINT pk_instance_logs PRIMARY KEY (id), 
	CONSTRAINT fk_instance_logs_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE INDEX ix_instance_logs_instance ON instance_logs (instance_id, id);
CREATE TABLE instance_events (
	id INTEGER NOT NULL, 
	instance_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	actor VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	from_state VARCHAR, 
	to_state VARCHAR, 
	detail TEXT, 
	CONSTRAINT pk_instance_events PRIMARY KEY (id), 
	CONSTRAINT fk_instance_events_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE INDEX ix_instance_events_instance ON instance_events (instance_id, id);
CREATE TABLE scheduler_state (
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	history_start DATETIME NOT NULL, 
	planned_until DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_scheduler_state PRIMARY KEY (workspace, env)
);
CREATE TABLE lakeworks_processes (
	name VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	host VARCHAR NOT NULL, 
	pid INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	groups VARCHAR NOT NULL, 
	started_at DATETIME NOT NULL, 
	heartbeat_at DATETIME NOT NULL, 
	stopped_at DATETIME, 
	CONSTRAINT pk_lakeworks_processes PRIMARY KEY (name)
);
CREATE TABLE schedule_nodes (
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	workflow VARCHAR NOT NULL, 
	owner VARCHAR, 
	rerun_policy VARCHAR, 
	max_attempts INTEGER NOT NULL, 
	frozen BOOLEAN NOT NULL, 
	frozen_by VARCHAR, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_schedule_nodes PRIMARY KEY (workspace, env, node_key)
);
CREATE TABLE instance_pending_upstream (
	instance_id INTEGER NOT NULL, 
	node_key VARCHAR NOT NULL, 
	cycle_time DATETIME NOT NULL, 
	CONSTRAINT pk_instance_pending_upstream PRIMARY KEY (instance_id, node_key, cycle_time), 
	CONSTRAINT fk_instance_pending_upstream_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE ops_actions (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	actor VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	workspace VARCHAR, 
	env VARCHAR, 
	target TEXT NOT NULL, 
	detail TEXT, 
	CONSTRAINT pk_ops_actions PRIMARY KEY (id)
);
CREATE INDEX ix_ops_actions_workspace ON ops_actions (workspace, env, id);
CREATE INDEX ix_instances_owner_listing ON instances (workspace, env, owner, id);
CREATE INDEX ix_instances_workflow_listing ON instances (workspace, env, workflow, id);
CREATE INDEX ix_instances_queue ON instances (resource_group, workspace, env, priority, cycle_time, id) WHERE state = 'waiting_resources';
CREATE TABLE lakehouse_tables (
	warehouse VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	schema_json TEXT NOT NULL, 
	partition_by TEXT NOT NULL, 
	version INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, vacuumed_version INTEGER, 
	CONSTRAINT pk_lakehouse_tables PRIMARY KEY (warehouse, name)
);
CREATE TABLE lakehouse_commits (
	warehouse VARCHAR NOT NULL, 
	table_name VARCHAR NOT NULL, 
	version INTEGER NOT NULL, 
	operation VARCHAR NOT NULL, 
	partitions_json TEXT, 
	rows_added BIGINT NOT NULL, 
	rows_total BIGINT NOT NULL, 
	committed_at DATETIME NOT NULL, 
	CONSTRAINT pk_lakehouse_commits PRIMARY KEY (warehouse, table_name, version)
);
CREATE TABLE lakehouse_files (
	id INTEGER NOT NULL, 
	warehouse VARCHAR NOT NULL, 
	table_name VARCHAR NOT NULL, 
	path VARCHAR NOT NULL, 
	partition_key VARCHAR NOT NULL, 
	rows BIGINT NOT NULL, 
	bytes BIGINT NOT NULL, 
	added_version INTEGER NOT NULL, 
	removed_version INTEGER, 
	CONSTRAINT pk_lakehouse_files PRIMARY KEY (id)
);
CREATE INDEX ix_lakehouse_files_table ON lakehouse_files (warehouse, table_name, removed_version);
CREATE TABLE instance_outputs (
	instance_id INTEGER NOT NULL, 
	value TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_instance_outputs PRIMARY KEY (instance_id), 
	CONSTRAINT fk_instance_outputs_instance FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE loop_iterations (
	instance_id INTEGER NOT NULL, 
	"offset" INTEGER NOT NULL, 
	item TEXT NOT NULL, 
	run_id INTEGER, 
	state VARCHAR NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_loop_iterations PRIMARY KEY (instance_id, "offset"), 
	CONSTRAINT fk_loop_iterations_instance FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE instance_triggers (
	instance_id INTEGER NOT NULL, 
	actor VARCHAR NOT NULL, 
	triggered_at DATETIME NOT NULL, 
	CONSTRAINT pk_instance_triggers PRIMARY KEY (instance_id), 
	CONSTRAINT fk_instance_triggers_instance FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE check_observations (
	instance_id INTEGER NOT NULL, 
	fingerprint TEXT NOT NULL, 
	since DATETIME NOT NULL, 
	CONSTRAINT pk_check_observations PRIMARY KEY (instance_id), 
	CONSTRAINT fk_check_observations_instance FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE TABLE stream_status (
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	desired VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	instance_id INTEGER, 
	rows_in BIGINT NOT NULL, 
	rows_out BIGINT NOT NULL, 
	rows_dirty BIGINT NOT NULL, 
	rows_per_second FLOAT NOT NULL, 
	lag_messages BIGINT, 
	lag_seconds FLOAT, 
	watermark DATETIME, 
	last_flush_at DATETIME, 
	restarts INTEGER NOT NULL, 
	last_error TEXT, 
	positions TEXT, 
	updated_at DATETIME NOT NULL, lag_bytes BIGINT, 
	CONSTRAINT pk_stream_status PRIMARY KEY (workspace, env, node_key)
);
CREATE TABLE alert_signals (
	id INTEGER NOT NULL, 
	instance_id INTEGER NOT NULL, 
	from_state VARCHAR, 
	to_state VARCHAR NOT NULL, 
	action VARCHAR NOT NULL, 
	detail TEXT, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_alert_signals PRIMARY KEY (id)
);
CREATE TABLE alert_rules (
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	spec_json TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	updated_by VARCHAR NOT NULL, 
	CONSTRAINT pk_alert_rules PRIMARY KEY (workspace, env, name)
);
CREATE TABLE alert_channels (
	workspace VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	spec_json TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_alert_channels PRIMARY KEY (workspace, name)
);
CREATE TABLE alert_incidents (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	rule VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	instance_id INTEGER, 
	"trigger" VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	summary TEXT NOT NULL, 
	opened_at DATETIME NOT NULL, 
	closed_at DATETIME, 
	alerts_sent INTEGER NOT NULL, 
	last_alert_at DATETIME, 
	CONSTRAINT pk_alert_incidents PRIMARY KEY (id), 
	CONSTRAINT uq_alert_incidents_subject UNIQUE (workspace, env, rule, subject)
);
CREATE INDEX ix_alert_incidents_state ON alert_incidents (workspace, env, state, id);
CREATE INDEX ix_alert_incidents_instance ON alert_incidents (instance_id);
CREATE TABLE alert_messages (
	id INTEGER NOT NULL, 
	incident_id INTEGER NOT NULL, 
	kind VARCHAR NOT NULL, 
	title TEXT NOT NULL, 
	body TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_alert_messages PRIMARY KEY (id)
);
CREATE INDEX ix_alert_messages_incident ON alert_messages (incident_id, id);
CREATE TABLE alert_deliveries (
	id INTEGER NOT NULL, 
	message_id INTEGER NOT NULL, 
	channel VARCHAR NOT NULL, 
	recipient VARCHAR, 
	idempotency_key VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	attempts INTEGER NOT NULL, 
	next_attempt_at DATETIME NOT NULL, 
	claimed_until DATETIME, 
	last_error TEXT, 
	sent_at DATETIME, 
	CONSTRAINT pk_alert_deliveries PRIMARY KEY (id), 
	CONSTRAINT uq_alert_deliveries_key UNIQUE (idempotency_key)
);
CREATE INDEX ix_alert_deliveries_due ON alert_deliveries (state, next_attempt_at);
CREATE INDEX ix_alert_deliveries_message ON alert_deliveries (message_id);
CREATE TABLE alert_delivery_attempts (
	id INTEGER NOT NULL, 
	delivery_id INTEGER NOT NULL, 
	number INTEGER NOT NULL, 
	at DATETIME NOT NULL, 
	ok BOOLEAN NOT NULL, 
	detail TEXT, 
	CONSTRAINT pk_alert_delivery_attempts PRIMARY KEY (id)
);
CREATE INDEX ix_alert_delivery_attempts_delivery ON alert_delivery_attempts (delivery_id, id);
CREATE TABLE baseline_status (
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	baseline VARCHAR NOT NULL, 
	period DATETIME NOT NULL, 
	priority INTEGER NOT NULL, 
	committed_at DATETIME NOT NULL, 
	state VARCHAR NOT NULL, 
	predicted_finish DATETIME NOT NULL, 
	key_path_json TEXT NOT NULL, 
	events_json TEXT NOT NULL, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_baseline_status PRIMARY KEY (workspace, env, baseline, period)
);
CREATE TABLE ds_versions (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	api VARCHAR NOT NULL, 
	version INTEGER NOT NULL, 
	route VARCHAR NOT NULL, 
	definition_json TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR NOT NULL, 
	note TEXT NOT NULL, 
	CONSTRAINT pk_ds_versions PRIMARY KEY (id), 
	CONSTRAINT uq_ds_versions_api_version UNIQUE (workspace, api, version)
);
CREATE TABLE ds_published (
	workspace VARCHAR NOT NULL, 
	api VARCHAR NOT NULL, 
	route VARCHAR NOT NULL, 
	version INTEGER NOT NULL, 
	published_at DATETIME NOT NULL, 
	published_by VARCHAR NOT NULL, 
	CONSTRAINT pk_ds_published PRIMARY KEY (workspace, api), 
	CONSTRAINT uq_ds_published_route UNIQUE (route)
);
CREATE TABLE ds_apps (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	app_key VARCHAR NOT NULL, 
	secret_ref TEXT NOT NULL, 
	secret_hash VARCHAR NOT NULL, 
	description TEXT NOT NULL, 
	per_second INTEGER, 
	per_day INTEGER, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR NOT NULL, 
	revoked_at DATETIME, 
	CONSTRAINT pk_ds_apps PRIMARY KEY (id), 
	CONSTRAINT uq_ds_apps_app_key UNIQUE (app_key), 
	CONSTRAINT uq_ds_apps_workspace_name UNIQUE (workspace, name)
);
CREATE TABLE ds_grants (
	id INTEGER NOT NULL, 
	app_id INTEGER NOT NULL, 
	api VARCHAR NOT NULL, 
	granted_at DATETIME NOT NULL, 
	granted_by VARCHAR NOT NULL, 
	expires_at DATETIME, 
	CONSTRAINT pk_ds_grants PRIMARY KEY (id), 
	CONSTRAINT uq_ds_grants_app_api UNIQUE (app_id, api), 
	CONSTRAINT fk_ds_grants_app_id_ds_apps FOREIGN KEY(app_id) REFERENCES ds_apps (id) ON DELETE CASCADE
);
CREATE TABLE ds_counters (
	"key" VARCHAR NOT NULL, 
	count INTEGER NOT NULL, 
	expires_at DATETIME NOT NULL, 
	CONSTRAINT pk_ds_counters PRIMARY KEY ("key")
);
CREATE INDEX ix_ds_counters_expires_at ON ds_counters (expires_at);
CREATE TABLE ds_nonces (
	app_key VARCHAR NOT NULL, 
	nonce VARCHAR NOT NULL, 
	expires_at DATETIME NOT NULL, 
	CONSTRAINT pk_ds_nonces PRIMARY KEY (app_key, nonce)
);
CREATE INDEX ix_ds_nonces_expires_at ON ds_nonces (expires_at);
CREATE TABLE ds_calls (
	id INTEGER NOT NULL, 
	workspace VARCHAR, 
	api VARCHAR, 
	route VARCHAR NOT NULL, 
	version INTEGER, 
	app_key VARCHAR, 
	status INTEGER NOT NULL, 
	duration_ms FLOAT NOT NULL, 
	rows INTEGER NOT NULL, 
	bytes INTEGER NOT NULL, 
	client VARCHAR, 
	cached BOOLEAN NOT NULL, 
	error TEXT, 
	called_at DATETIME NOT NULL, 
	CONSTRAINT pk_ds_calls PRIMARY KEY (id)
);
CREATE INDEX ix_ds_calls_api_called_at ON ds_calls (workspace, api, called_at);
CREATE INDEX ix_ds_calls_called_at ON ds_calls (called_at);
CREATE TABLE instance_followups (
	id INTEGER NOT NULL, 
	instance_id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	attempt INTEGER NOT NULL, 
	state VARCHAR NOT NULL, 
	payload TEXT NOT NULL, 
	owner VARCHAR NOT NULL, 
	claimed_at DATETIME NOT NULL, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_instance_followups PRIMARY KEY (id)
);
CREATE INDEX ix_instance_followups_scope ON instance_followups (workspace, env, owner, id);
CREATE INDEX ix_instances_node_listing ON instances (workspace, env, node_key, id);
CREATE TABLE workspaces (
	id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	root TEXT NOT NULL, 
	require_approval BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR NOT NULL, 
	CONSTRAINT pk_workspaces PRIMARY KEY (id), 
	CONSTRAINT uq_workspaces_name UNIQUE (name)
);
CREATE TABLE users (
	id INTEGER NOT NULL, 
	username VARCHAR NOT NULL, 
	display_name VARCHAR, 
	password_hash TEXT, 
	is_superuser BOOLEAN NOT NULL, 
	disabled BOOLEAN NOT NULL, 
	created_at DATETIME NOT NULL, 
	password_changed_at DATETIME, 
	last_login_at DATETIME, 
	CONSTRAINT pk_users PRIMARY KEY (id), 
	CONSTRAINT uq_users_username UNIQUE (username)
);
CREATE TABLE user_sessions (
	id INTEGER NOT NULL, 
	token_hash VARCHAR NOT NULL, 
	user_id INTEGER NOT NULL, 
	csrf_token VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME NOT NULL, 
	last_seen_at DATETIME NOT NULL, 
	client_ip VARCHAR, 
	user_agent TEXT, 
	revoked_at DATETIME, 
	CONSTRAINT pk_user_sessions PRIMARY KEY (id), 
	CONSTRAINT uq_user_sessions_token_hash UNIQUE (token_hash), 
	CONSTRAINT fk_user_sessions_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX ix_user_sessions_user ON user_sessions (user_id);
CREATE TABLE api_tokens (
	id INTEGER NOT NULL, 
	user_id INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	prefix VARCHAR NOT NULL, 
	token_hash VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	expires_at DATETIME, 
	last_used_at DATETIME, 
	revoked_at DATETIME, 
	CONSTRAINT pk_api_tokens PRIMARY KEY (id), 
	CONSTRAINT uq_api_tokens_token_hash UNIQUE (token_hash), 
	CONSTRAINT fk_api_tokens_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX ix_api_tokens_user ON api_tokens (user_id, id);
CREATE TABLE login_failures (
	"key" VARCHAR NOT NULL, 
	failures INTEGER NOT NULL, 
	window_started_at DATETIME NOT NULL, 
	locked_until DATETIME, 
	CONSTRAINT pk_login_failures PRIMARY KEY ("key")
);
CREATE TABLE workspace_members (
	workspace VARCHAR NOT NULL, 
	user_id INTEGER NOT NULL, 
	role VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR NOT NULL, 
	CONSTRAINT pk_workspace_members PRIMARY KEY (workspace, user_id, role), 
	CONSTRAINT fk_workspace_members_user_id_users FOREIGN KEY(user_id) REFERENCES users (id) ON DELETE CASCADE
);
CREATE INDEX ix_workspace_members_user ON workspace_members (user_id);
CREATE TABLE table_grants (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	subject VARCHAR NOT NULL, 
	table_pattern VARCHAR NOT NULL, 
	privilege VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR NOT NULL, 
	CONSTRAINT pk_table_grants PRIMARY KEY (id), 
	CONSTRAINT uq_table_grants_rule UNIQUE (workspace, env, subject, table_pattern, privilege)
);
CREATE TABLE masking_rules (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	table_pattern VARCHAR NOT NULL, 
	column_pattern VARCHAR NOT NULL, 
	method VARCHAR NOT NULL, 
	exempt_json TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR NOT NULL, 
	CONSTRAINT pk_masking_rules PRIMARY KEY (id), 
	CONSTRAINT uq_masking_rules_target UNIQUE (workspace, table_pattern, column_pattern)
);
CREATE TABLE stored_secrets (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	ciphertext TEXT NOT NULL, 
	created_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	updated_by VARCHAR NOT NULL, 
	CONSTRAINT pk_stored_secrets PRIMARY KEY (id), 
	CONSTRAINT uq_stored_secrets_name UNIQUE (workspace, name)
);
CREATE TABLE audit_log (
	id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	actor VARCHAR NOT NULL, 
	workspace VARCHAR, 
	action VARCHAR NOT NULL, 
	method VARCHAR NOT NULL, 
	target TEXT NOT NULL, 
	status INTEGER NOT NULL, 
	outcome VARCHAR NOT NULL, 
	client_ip VARCHAR, 
	user_agent TEXT, 
	detail TEXT, 
	CONSTRAINT pk_audit_log PRIMARY KEY (id)
);
CREATE INDEX ix_audit_log_workspace ON audit_log (workspace, id);
CREATE INDEX ix_audit_log_actor ON audit_log (actor, id);
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END;
CREATE TABLE deploy_blobs (
	hash VARCHAR NOT NULL, 
	content TEXT NOT NULL, 
	size INTEGER NOT NULL, 
	CONSTRAINT pk_deploy_blobs PRIMARY KEY (hash)
);
CREATE TABLE deployments (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	state VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	description TEXT NOT NULL, 
	source TEXT NOT NULL, 
	base_release INTEGER, 
	rollback_to INTEGER, 
	requires_approval BOOLEAN NOT NULL, 
	summary_json TEXT NOT NULL, 
	problems_json TEXT NOT NULL, 
	warnings_json TEXT NOT NULL, 
	created_by VARCHAR NOT NULL, 
	created_at DATETIME NOT NULL, 
	decided_by VARCHAR, 
	decided_at DATETIME, 
	decision_note TEXT, 
	applied_by VARCHAR, 
	applied_at DATETIME, 
	release INTEGER, 
	CONSTRAINT pk_deployments PRIMARY KEY (id)
);
CREATE INDEX ix_deployments_workspace ON deployments (workspace, env, id);
CREATE TABLE deployment_files (
	deployment_id INTEGER NOT NULL, 
	path VARCHAR NOT NULL, 
	blob_hash VARCHAR NOT NULL, 
	change VARCHAR NOT NULL, 
	node_key VARCHAR, 
	node_version INTEGER, 
	CONSTRAINT pk_deployment_files PRIMARY KEY (deployment_id, path), 
	CONSTRAINT fk_deployment_files_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id) ON DELETE CASCADE, 
	CONSTRAINT fk_deployment_files_blob_hash_deploy_blobs FOREIGN KEY(blob_hash) REFERENCES deploy_blobs (hash)
);
CREATE TABLE releases (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	number INTEGER NOT NULL, 
	deployment_id INTEGER NOT NULL, 
	created_at DATETIME NOT NULL, 
	created_by VARCHAR NOT NULL, 
	CONSTRAINT pk_releases PRIMARY KEY (id), 
	CONSTRAINT uq_releases_number UNIQUE (workspace, env, number), 
	CONSTRAINT fk_releases_deployment_id_deployments FOREIGN KEY(deployment_id) REFERENCES deployments (id)
);
CREATE TABLE release_files (
	release_id INTEGER NOT NULL, 
	path VARCHAR NOT NULL, 
	blob_hash VARCHAR NOT NULL, 
	CONSTRAINT pk_release_files PRIMARY KEY (release_id, path), 
	CONSTRAINT fk_release_files_release_id_releases FOREIGN KEY(release_id) REFERENCES releases (id) ON DELETE CASCADE, 
	CONSTRAINT fk_release_files_blob_hash_deploy_blobs FOREIGN KEY(blob_hash) REFERENCES deploy_blobs (hash)
);
CREATE TABLE release_nodes (
	release_id INTEGER NOT NULL, 
	node_key VARCHAR NOT NULL, 
	node_version INTEGER NOT NULL, 
	CONSTRAINT pk_release_nodes PRIMARY KEY (release_id, node_key), 
	CONSTRAINT fk_release_nodes_release_id_releases FOREIGN KEY(release_id) REFERENCES releases (id) ON DELETE CASCADE
);
CREATE TABLE catalog_tables (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	source VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	present BOOLEAN NOT NULL, 
	comment TEXT, 
	description TEXT, 
	owner VARCHAR, 
	layer VARCHAR, 
	tags TEXT NOT NULL, 
	partition_columns TEXT NOT NULL, 
	row_count BIGINT, 
	size_bytes BIGINT, 
	writer_node VARCHAR, 
	last_modified DATETIME, 
	harvested_at DATETIME, 
	CONSTRAINT pk_catalog_tables PRIMARY KEY (id), 
	CONSTRAINT uq_catalog_tables_name UNIQUE (workspace, env, source, name)
);
CREATE INDEX ix_catalog_tables_lookup ON catalog_tables (workspace, env, name);
CREATE TABLE catalog_columns (
	id INTEGER NOT NULL, 
	table_id INTEGER NOT NULL, 
	position INTEGER NOT NULL, 
	name VARCHAR NOT NULL, 
	type VARCHAR, 
	nullable BOOLEAN, 
	comment TEXT, 
	description TEXT, 
	is_partition BOOLEAN NOT NULL, 
	CONSTRAINT pk_catalog_columns PRIMARY KEY (id), 
	CONSTRAINT fk_catalog_columns_table_id_catalog_tables FOREIGN KEY(table_id) REFERENCES catalog_tables (id) ON DELETE CASCADE, 
	CONSTRAINT uq_catalog_columns_name UNIQUE (table_id, name)
);
CREATE TABLE catalog_partitions (
	id INTEGER NOT NULL, 
	table_id INTEGER NOT NULL, 
	spec VARCHAR NOT NULL, 
	row_count BIGINT, 
	size_bytes BIGINT, 
	last_modified DATETIME, 
	CONSTRAINT pk_catalog_partitions PRIMARY KEY (id), 
	CONSTRAINT fk_catalog_partitions_table_id_catalog_tables FOREIGN KEY(table_id) REFERENCES catalog_tables (id) ON DELETE CASCADE, 
	CONSTRAINT uq_catalog_partitions_spec UNIQUE (table_id, spec)
);
CREATE TABLE lineage_nodes (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	node_version INTEGER, 
	code_hash VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	owner VARCHAR, 
	complete BOOLEAN NOT NULL, 
	problems TEXT NOT NULL, 
	analysed_at DATETIME NOT NULL, 
	CONSTRAINT pk_lineage_nodes PRIMARY KEY (id), 
	CONSTRAINT uq_lineage_nodes_node UNIQUE (workspace, env, node_key)
);
CREATE TABLE lineage_table_edges (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	source_table VARCHAR NOT NULL, 
	target_table VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	node_version INTEGER, 
	CONSTRAINT pk_lineage_table_edges PRIMARY KEY (id)
);
CREATE INDEX ix_lineage_table_edges_source ON lineage_table_edges (workspace, env, source_table);
CREATE INDEX ix_lineage_table_edges_target ON lineage_table_edges (workspace, env, target_table);
CREATE INDEX ix_lineage_table_edges_node ON lineage_table_edges (workspace, env, node_key);
CREATE TABLE lineage_column_edges (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	source_table VARCHAR NOT NULL, 
	source_column VARCHAR NOT NULL, 
	target_table VARCHAR NOT NULL, 
	target_column VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	node_version INTEGER, 
	CONSTRAINT pk_lineage_column_edges PRIMARY KEY (id)
);
CREATE INDEX ix_lineage_column_edges_source ON lineage_column_edges (workspace, env, source_table, source_column);
CREATE INDEX ix_lineage_column_edges_target ON lineage_column_edges (workspace, env, target_table, target_column);
CREATE INDEX ix_lineage_column_edges_node ON lineage_column_edges (workspace, env, node_key);
CREATE TABLE lineage_unresolved (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	target_table VARCHAR NOT NULL, 
	target_column VARCHAR NOT NULL, 
	CONSTRAINT pk_lineage_unresolved PRIMARY KEY (id)
);
CREATE INDEX ix_lineage_unresolved_node ON lineage_unresolved (workspace, env, node_key);
CREATE TABLE lineage_dependents (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	table_name VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	name VARCHAR NOT NULL, 
	owner VARCHAR, 
	columns TEXT NOT NULL, 
	CONSTRAINT pk_lineage_dependents PRIMARY KEY (id)
);
CREATE INDEX ix_lineage_dependents_table ON lineage_dependents (workspace, env, table_name);
CREATE TABLE run_lineage (
	id INTEGER NOT NULL, 
	instance_id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	table_name VARCHAR NOT NULL, 
	partition VARCHAR NOT NULL, 
	direction VARCHAR NOT NULL, 
	rows BIGINT, 
	recorded_at DATETIME NOT NULL, 
	CONSTRAINT pk_run_lineage PRIMARY KEY (id), 
	CONSTRAINT fk_run_lineage_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE CASCADE
);
CREATE INDEX ix_run_lineage_table ON run_lineage (workspace, env, table_name, recorded_at);
CREATE INDEX ix_run_lineage_instance ON run_lineage (instance_id);
CREATE TABLE catalog_search_docs (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	kind VARCHAR NOT NULL, 
	ref VARCHAR NOT NULL, 
	name TEXT NOT NULL, 
	columns TEXT NOT NULL, 
	docs TEXT NOT NULL, 
	tags TEXT NOT NULL, 
	code TEXT NOT NULL, 
	CONSTRAINT pk_catalog_search_docs PRIMARY KEY (id), 
	CONSTRAINT uq_catalog_search_docs_ref UNIQUE (workspace, env, kind, ref)
);
CREATE VIRTUAL TABLE catalog_search_fts USING fts5(name, columns, docs, tags, code, tokenize='unicode61 remove_diacritics 2');
CREATE TABLE quality_results (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	rule VARCHAR NOT NULL, 
	template VARCHAR NOT NULL, 
	strength VARCHAR NOT NULL, 
	table_name VARCHAR NOT NULL, 
	partition_spec TEXT NOT NULL, 
	partition_filter TEXT, 
	metric_key VARCHAR NOT NULL, 
	cycle_time DATETIME, 
	bizdate VARCHAR, 
	instance_id INTEGER, 
	value FLOAT, 
	observed FLOAT, 
	baseline FLOAT, 
	warn_min FLOAT, 
	warn_max FLOAT, 
	fail_min FLOAT, 
	fail_max FLOAT, 
	verdict VARCHAR NOT NULL, 
	message TEXT NOT NULL, 
	sample_json TEXT, 
	duration_ms FLOAT NOT NULL, 
	owner VARCHAR, 
	created_at DATETIME NOT NULL, 
	CONSTRAINT pk_quality_results PRIMARY KEY (id), 
	CONSTRAINT fk_quality_results_instance_id_instances FOREIGN KEY(instance_id) REFERENCES instances (id) ON DELETE SET NULL
);
CREATE INDEX ix_quality_results_series ON quality_results (workspace, env, table_name, metric_key, cycle_time);
CREATE INDEX ix_quality_results_table ON quality_results (workspace, env, table_name, id);
CREATE INDEX ix_quality_results_instance ON quality_results (instance_id);
CREATE TABLE sync_runs (
	id INTEGER NOT NULL, 
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	instance_id INTEGER, 
	attempt INTEGER NOT NULL, 
	bizdate VARCHAR, 
	state VARCHAR NOT NULL, 
	started_at DATETIME NOT NULL, 
	finished_at DATETIME, 
	rows_read BIGINT NOT NULL, 
	rows_written BIGINT NOT NULL, 
	rows_dirty BIGINT NOT NULL, 
	bytes_read BIGINT NOT NULL, 
	seconds FLOAT, 
	cursor_before TEXT, 
	cursor_after TEXT, 
	error TEXT, 
	CONSTRAINT pk_sync_runs PRIMARY KEY (id)
);
CREATE INDEX ix_sync_runs_node ON sync_runs (workspace, env, node_key, id);
CREATE TABLE sync_cursors (
	workspace VARCHAR NOT NULL, 
	env VARCHAR NOT NULL, 
	node_key VARCHAR NOT NULL, 
	value_json TEXT NOT NULL, 
	sync_run_id INTEGER, 
	updated_at DATETIME NOT NULL, 
	CONSTRAINT pk_sync_cursors PRIMARY KEY (workspace, env, node_key)
);
CREATE TABLE sync_dirty_rows (
	id INTEGER NOT NULL, 
	sync_run_id INTEGER NOT NULL, 
	position TEXT NOT NULL, 
	reason TEXT NOT NULL, 
	row_json TEXT NOT NULL, 
	CONSTRAINT pk_sync_dirty_rows PRIMARY KEY (id)
);
CREATE INDEX ix_sync_dirty_rows_run ON sync_dirty_rows (sync_run_id);
INSERT INTO "alembic_version" VALUES ('0003');
INSERT INTO "alembic_version" VALUES ('0004');
INSERT INTO "alembic_version" VALUES ('0005');
INSERT INTO "alembic_version" VALUES ('0006');
INSERT INTO "alembic_version" VALUES ('0007');
INSERT INTO "alembic_version" VALUES ('0008');
INSERT INTO "alembic_version" VALUES ('0013');
INSERT INTO "alembic_version" VALUES ('0015');
INSERT INTO "alembic_version" VALUES ('0023');
INSERT INTO "alembic_version" VALUES ('0024');
INSERT INTO "alembic_version" VALUES ('0025');
INSERT INTO "alembic_version" VALUES ('0026');
