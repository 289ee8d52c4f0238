//! Core WebAssembly modules turned into components when they are loaded, as Spin does: a
//! module built with `wit-bindgen` 0.5 or newer carries its component type in a custom
//! section, and its WASI preview 1 imports (if any) are adapted to WASI 0.2 with the
//! preview 1 adapter of this host's wasmtime release.

use anyhow::{bail, Context, Result};
use std::borrow::Cow;
use wasmparser::{Encoding, Parser, Payload};

/// `bytes` as a component: unchanged when it is one, componentized when it is a module.
pub fn componentize_if_module(bytes: &[u8]) -> Result<Cow<'_, [u8]>> {
    match encoding(bytes)? {
        Encoding::Component => Ok(Cow::Borrowed(bytes)),
        Encoding::Module => componentize(bytes).map(Cow::Owned),
    }
}

fn encoding(bytes: &[u8]) -> Result<Encoding> {
    match Parser::new(0).parse_all(bytes).next() {
        Some(Ok(Payload::Version { encoding, .. })) => Ok(encoding),
        Some(Err(e)) => Err(e).context("not a WebAssembly binary"),
        _ => bail!("not a WebAssembly binary"),
    }
}

/// Whether a module says which component it is (the `component-type` custom sections that
/// `wit-bindgen` writes).
fn has_component_type(module: &[u8]) -> bool {
    Parser::new(0)
        .parse_all(module)
        .any(|p| matches!(p, Ok(Payload::CustomSection(ref s)) if s.name().starts_with("component-type")))
}

fn componentize(module: &[u8]) -> Result<Vec<u8>> {
    if !has_component_type(module) {
        bail!(
            "this core module carries no component type (it was not made with wit-bindgen 0.5 or newer: a Spin 1 \
             SDK module or a WASI command), which edge cannot adapt; rebuild it as a component (e.g. for wasm32-wasip2)"
        );
    }
    wit_component::ComponentEncoder::default()
        .validate(true)
        .module(module)
        .context("failed to componentize the module")?
        .adapter(
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )
        .context("failed to load the WASI preview 1 adapter")?
        .encode()
        .context("failed to componentize the module")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn components_pass_through_and_bare_modules_are_refused() {
        // The smallest component: magic, version 0x0d, layer 1.
        let component = b"\0asm\x0d\0\x01\0";
        assert!(matches!(componentize_if_module(component).unwrap(), Cow::Borrowed(_)));
        let module = b"\0asm\x01\0\0\0";
        let e = componentize_if_module(module).unwrap_err();
        assert!(format!("{e:#}").contains("no component type"), "{e:#}");
        assert!(componentize_if_module(b"not wasm").is_err());
    }
}
