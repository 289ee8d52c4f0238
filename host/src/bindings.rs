//! Host bindings for the Spin interfaces, generated from the WIT in `wit/` (byte-identical
//! copies of the WIT shipped in the `spin-sdk` package).

wasmtime::component::bindgen!({
    path: "../wit",
    world: "quotekit:edge/spin-services",
    imports: { default: async | trappable },
    with: {
        "spin:postgres/postgres.connection": crate::postgres::Connection,
        "fermyon:spin/key-value.store": crate::key_value::Store,
        "fermyon:spin/sqlite.connection": crate::sqlite::Connection,
    },
});
