//! End-to-end suites: the real `.wasm` components in the real `edge` host against a real
//! PostgreSQL, one fresh database per test. Run them with `scripts/test`.

mod adoption;
mod api_description;
mod bad_input;
mod batch_processor;
mod ci;
mod conformance;
mod deployment;
mod deployment_guide;
mod dev_seed;
mod fixtures;
mod host;
mod hostile;
mod jwt_vectors;
mod manifest_rules;
mod migration_controller;
mod migrations;
mod monitoring_alerting;
mod observability;
mod original_callers;
mod performance_optimizer;
mod postgres_tls;
mod production_validator;
mod quote_pdf;
mod quote_processor;
mod reliability;
mod rls;
mod scheduled_work;
mod security;
mod share_links;
mod signing_keys;
mod spin;
mod subscription_status;
mod webhook_handler;
mod webhook_monitor;
