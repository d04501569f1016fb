//! runc's logging contract: `--log FILE` is created (even when nothing goes wrong) and gets one
//! `level=error` line per failure, in logrus' text or JSON shape; stderr gets the plain message.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::LogFormat;

pub struct Logger {
    file: Option<File>,
    format: LogFormat,
}

impl Logger {
    /// Open (create, append) the log file now, so that it exists whatever happens next.
    pub fn open(path: Option<&Path>, format: LogFormat) -> Result<Logger, String> {
        let file = match path {
            Some(p) => Some(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .map_err(|e| format!("open log file {}: {e}", p.display()))?,
            ),
            None => None,
        };
        Ok(Logger { file, format })
    }

    /// Report a failure: one line on stderr, one line in the log file.
    pub fn error(&self, msg: &str) {
        let time = runtime_core::time::rfc3339(std::time::SystemTime::now(), false);
        if let Some(mut f) = self.file.as_ref() {
            let line = match self.format {
                LogFormat::Json => {
                    let v = serde_json::json!({ "level": "error", "msg": msg, "time": time });
                    v.to_string()
                }
                LogFormat::Text => format!(
                    "time={:?} level=error msg={}",
                    time,
                    serde_json::Value::String(msg.to_string())
                ),
            };
            let _ = writeln!(f, "{line}");
        }
        let _ = writeln!(std::io::stderr(), "{}", msg.replace('\n', " "));
    }
}
