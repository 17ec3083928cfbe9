//! Whether an executable is statically linked: an ELF file with no
//! `PT_INTERP` program header and no `DT_NEEDED` libraries.

use std::path::Path;

use crate::{IoContext, Result};

/// True when `path` is an ELF executable that needs no dynamic loader.
pub fn is_static(path: &Path) -> Result<bool> {
    let bytes = std::fs::read(path).ctx("read", path)?;
    let Ok(elf) = goblin::elf::Elf::parse(&bytes) else {
        return Ok(false);
    };
    Ok(elf.interpreter.is_none() && elf.libraries.is_empty())
}
