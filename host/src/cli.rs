//! A small argument reader: flags take the next word as their value; anything left over is
//! reported instead of ignored.

use anyhow::{bail, Result};

pub struct Args {
    words: Vec<String>,
}

impl Args {
    pub fn new(words: Vec<String>) -> Args {
        Args { words }
    }

    /// The next positional word (a subcommand), if it is not a flag.
    pub fn command(&mut self) -> Option<String> {
        if self.words.first().is_some_and(|w| !w.starts_with('-')) {
            Some(self.words.remove(0))
        } else {
            None
        }
    }

    /// `--name VALUE` or `--name=VALUE`; the last one wins.
    pub fn value(&mut self, name: &str) -> Option<String> {
        self.values(name).pop()
    }

    pub fn values(&mut self, name: &str) -> Vec<String> {
        let mut out = Vec::new();
        let mut i = 0;
        while i < self.words.len() {
            if self.words[i] == name && i + 1 < self.words.len() {
                out.push(self.words.remove(i + 1));
                self.words.remove(i);
            } else if let Some(v) = self.words[i].strip_prefix(&format!("{name}=")) {
                out.push(v.to_string());
                self.words.remove(i);
            } else {
                i += 1;
            }
        }
        out
    }

    pub fn flag(&mut self, name: &str) -> bool {
        let before = self.words.len();
        self.words.retain(|w| w != name);
        before != self.words.len()
    }

    pub fn finish(self) -> Result<()> {
        if !self.words.is_empty() {
            bail!("unexpected arguments: {}", self.words.join(" "));
        }
        Ok(())
    }
}
