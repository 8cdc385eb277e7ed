//! `[console]`: the admin console. Restart-only: the templates are read once at boot.

use std::path::{Path, PathBuf};

use super::paths::absolutize;
use super::reader::TableReader;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConsoleConfig {
    /// A template file here replaces the embedded one of the same name
    /// (`<template_dir>/admin/users.html` replaces `admin/users.html`).
    pub template_dir: Option<PathBuf>,
}

pub(crate) fn read_console(mut r: TableReader<'_>, cwd: &Path) -> Option<ConsoleConfig> {
    let template_dir = if r.has("template_dir") {
        r.take_string_with("template_dir", |text| {
            let text = text.trim();
            if text.is_empty() {
                return Err(
                    "must not be empty (leave it out to use the embedded templates)".into(),
                );
            }
            let dir = absolutize(cwd, Path::new(text));
            if dir.is_dir() {
                Ok(Some(dir))
            } else {
                Err(format!("{} is not a directory", dir.display()))
            }
        })
    } else {
        Some(None)
    };
    r.finish();
    Some(ConsoleConfig {
        template_dir: template_dir?,
    })
}
