//! Tiny argument parsing shared by the examples: `--host H --port P` and `--name value`.
#![allow(dead_code)]

/// The arguments after the program name.
pub struct Args(Vec<String>);

impl Args {
    pub fn from_env() -> Self {
        Args(std::env::args().skip(1).collect())
    }

    /// The value after `--name` (or `-n`), if given.
    pub fn value(&self, names: &[&str]) -> Option<String> {
        self.0
            .iter()
            .position(|a| names.contains(&a.as_str()))
            .and_then(|i| self.0.get(i + 1))
            .cloned()
    }

    /// Was `--name` given?
    pub fn flag(&self, name: &str) -> bool {
        self.0.iter().any(|a| a == name)
    }

    /// The broker address: `--host`/`--port`, or None for the in-process broker.
    pub fn broker(&self) -> Option<String> {
        let host = self.value(&["--host", "-h"])?;
        Some(format!(
            "{host}:{}",
            self.value(&["--port", "-p"])
                .unwrap_or_else(|| "1883".into())
        ))
    }
}
