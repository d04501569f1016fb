//! runc's logging contract: `--log FILE` is created (even when nothing goes wrong) and gets one
//! `level=error` line per failure, in logrus' text or JSON shape; stderr gets the plain message.
//!
//! The same logger serves the `log` crate for runtime-core and the CLI: warnings always, and
//! with `--debug` the `level=debug` lines of what the runtime does. They go to the log file, or
//! to stderr when there is none, as runc's logrus does. (Never used by a container's process
//! between clone and exec: nothing there logs.)

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;

use crate::LogFormat;

pub struct Logger {
    file: Option<File>,
    format: LogFormat,
}

/// logrus' level names.
fn level_name(l: log::Level) -> &'static str {
    match l {
        log::Level::Error => "error",
        log::Level::Warn => "warning",
        log::Level::Info => "info",
        log::Level::Debug => "debug",
        log::Level::Trace => "trace",
    }
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

    /// Makes this logger the `log` crate's, at debug level with `debug`, else warnings and
    /// errors only.
    pub fn install(self, debug: bool) -> &'static Logger {
        let me: &'static Logger = Box::leak(Box::new(self));
        if log::set_logger(me).is_ok() {
            log::set_max_level(if debug {
                log::LevelFilter::Debug
            } else {
                log::LevelFilter::Warn
            });
        }
        me
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = runtime_core::time::rfc3339(std::time::SystemTime::now(), false);
        match self.format {
            LogFormat::Json => {
                serde_json::json!({ "level": level, "msg": msg, "time": time }).to_string()
            }
            LogFormat::Text => format!(
                "time={:?} level={level} msg={}",
                time,
                serde_json::Value::String(msg.to_string())
            ),
        }
    }

    /// Report a failure: one line on stderr, one line in the log file.
    pub fn error(&self, msg: &str) {
        if let Some(mut f) = self.file.as_ref() {
            let _ = writeln!(f, "{}", self.line("error", msg));
        }
        let _ = writeln!(std::io::stderr(), "{}", msg.replace('\n', " "));
    }
}

impl log::Log for Logger {
    fn enabled(&self, m: &log::Metadata) -> bool {
        m.level() <= log::max_level()
    }

    fn log(&self, r: &log::Record) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let line = self.line(level_name(r.level()), &r.args().to_string());
        match self.file.as_ref() {
            Some(mut f) => {
                let _ = writeln!(f, "{line}");
            }
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    fn flush(&self) {}
}
