//! Merging embedded defaults, a YAML file and `WK_*` environment variables into a [`Config`].
//!
//! The defaults, rendered as a JSON tree, are the schema: a file key absent from it is unknown
//! (a warning), and an environment variable is matched against it segment by segment, case
//! insensitively (`WK_WEBHOOK_HTTPADDR` → `webhook.httpAddr`), then parsed as the default's type.

use super::Config;
use serde_json::{Map, Value};
use std::fmt;
use std::path::Path;

/// Why a configuration could not be loaded; names the key and the value.
#[derive(Debug)]
pub enum ConfigError {
    /// The file could not be read.
    Read { path: String, error: std::io::Error },
    /// The file is not valid YAML, or its top level is not a mapping.
    Syntax { path: String, error: String },
    /// A key has a value of the wrong type or out of range.
    BadValue {
        key: String,
        value: String,
        why: String,
    },
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Read { path, error } => write!(f, "cannot read config file {path}: {error}"),
            Self::Syntax { path, error } => {
                write!(f, "config file {path} is not valid YAML: {error}")
            }
            Self::BadValue { key, value, why } => {
                write!(f, "config key `{key}` has a bad value {value}: {why}")
            }
        }
    }
}

impl std::error::Error for ConfigError {}

/// What loading noticed without failing: unknown keys and where each value came from.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Keys in the file or environment that Jindou does not know (ignored).
    pub unknown_keys: Vec<String>,
    /// Keys set from the environment.
    pub env_keys: Vec<String>,
}

impl Config {
    /// Loads the configuration: defaults, then `file` (if any), then the `WK_*` variables of `env`.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, LoadReport), ConfigError> {
        let text = match file {
            Some(path) => {
                Some(
                    std::fs::read_to_string(path).map_err(|error| ConfigError::Read {
                        path: path.display().to_string(),
                        error,
                    })?,
                )
            }
            None => None,
        };
        let origin = file.map(|p| p.display().to_string()).unwrap_or_default();
        Self::load_from_str(text.as_deref(), &origin, env)
    }

    /// Like [`Config::load`], with the file's text given directly (tests, embedded configs).
    pub fn load_from_str(
        yaml: Option<&str>,
        origin: &str,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(Config, LoadReport), ConfigError> {
        let schema = serde_json::to_value(Config::default()).map_err(|e| ConfigError::Syntax {
            path: "<defaults>".into(),
            error: e.to_string(),
        })?;
        let mut report = LoadReport::default();
        let mut merged = schema.clone();
        if let Some(text) = yaml.filter(|t| !t.trim().is_empty()) {
            let file: Value = serde_saphyr::from_str(text).map_err(|e| ConfigError::Syntax {
                path: origin.into(),
                error: e.to_string(),
            })?;
            match file {
                Value::Object(map) => merge_object(&mut merged, &schema, map, "", &mut report),
                Value::Null => {}
                other => {
                    return Err(ConfigError::Syntax {
                        path: origin.into(),
                        error: format!("the top level must be a mapping of keys, not {other}"),
                    })
                }
            }
        }
        let mut env: Vec<(String, String)> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("WK_"))
            .collect();
        env.sort();
        for (name, raw) in env {
            apply_env(&mut merged, &schema, &name, &raw, &mut report)?;
        }
        let config: Config = serde_path_to_error::deserialize(merged.clone()).map_err(|e| {
            let key = e.path().to_string();
            let value = lookup(&merged, &key)
                .map(|v| v.to_string())
                .unwrap_or_else(|| "?".into());
            ConfigError::BadValue {
                key,
                value,
                why: e.into_inner().to_string(),
            }
        })?;
        config.validate()?;
        Ok((config, report))
    }
}

/// Copies `incoming` into `target` where `schema` knows the key; records the rest as unknown.
fn merge_object(
    target: &mut Value,
    schema: &Value,
    incoming: Map<String, Value>,
    prefix: &str,
    report: &mut LoadReport,
) {
    for (key, value) in incoming {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        let Some(schema_child) = schema.get(&key) else {
            report.unknown_keys.push(path);
            continue;
        };
        let Some(target_child) = target.get_mut(&key) else {
            report.unknown_keys.push(path);
            continue;
        };
        match (schema_child, value) {
            (Value::Object(_), Value::Object(map)) => {
                merge_object(target_child, schema_child, map, &path, report)
            }
            // A null in YAML (`key:` with nothing) keeps the default.
            (_, Value::Null) => {}
            (_, value) => *target_child = value,
        }
    }
}

/// Applies one `WK_A_B_C` variable to the key it names, parsed as that key's default type.
fn apply_env(
    merged: &mut Value,
    schema: &Value,
    name: &str,
    raw: &str,
    report: &mut LoadReport,
) -> Result<(), ConfigError> {
    let segments: Vec<&str> = name["WK_".len()..].split('_').collect();
    let mut schema_node = schema;
    let mut target = merged;
    let mut path = Vec::new();
    for seg in &segments {
        let Value::Object(map) = schema_node else {
            report.unknown_keys.push(name.to_string());
            return Ok(());
        };
        let Some((key, child)) = map.iter().find(|(k, _)| k.eq_ignore_ascii_case(seg)) else {
            report.unknown_keys.push(name.to_string());
            return Ok(());
        };
        path.push(key.clone());
        schema_node = child;
        target = match target.get_mut(key.as_str()) {
            Some(t) => t,
            None => {
                report.unknown_keys.push(name.to_string());
                return Ok(());
            }
        };
    }
    let key = path.join(".");
    let bad = |why: &str| ConfigError::BadValue {
        key: key.clone(),
        value: format!("{raw:?} (from {name})"),
        why: why.into(),
    };
    *target = match schema_node {
        Value::Bool(_) => match raw.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => Value::Bool(true),
            "false" | "0" | "no" | "off" => Value::Bool(false),
            _ => return Err(bad("expected true or false")),
        },
        Value::Number(_) => match raw.trim().parse::<i64>() {
            Ok(n) => Value::from(n),
            Err(_) => match raw.trim().parse::<f64>() {
                Ok(f) => Value::from(f),
                // Sizes (`64MiB`) and durations pass through as text for their own parser.
                Err(_) => Value::String(raw.trim().to_string()),
            },
        },
        Value::Array(_) => Value::Array(
            raw.split_whitespace()
                .map(|s| Value::String(s.to_string()))
                .collect(),
        ),
        Value::Object(_) => return Err(bad("names a section, not a value")),
        _ => Value::String(raw.to_string()),
    };
    report.env_keys.push(key);
    Ok(())
}

/// Finds the value at a serde_path_to_error path such as `storage.syncBatch` or `auth.users[1]`.
fn lookup<'a>(root: &'a Value, path: &str) -> Option<&'a Value> {
    let mut node = root;
    for part in path.split('.') {
        let (name, index) = match part.find('[') {
            Some(i) => (&part[..i], part[i + 1..].trim_end_matches(']').parse().ok()),
            None => (part, None),
        };
        if !name.is_empty() {
            node = node.get(name)?;
        }
        if let Some(i) = index {
            node = node.get::<usize>(i)?;
        }
    }
    Some(node)
}
